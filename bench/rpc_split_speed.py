"""llama.cpp RPC across hosts on one machine: decode and prefill split over two network-namespace
workers vs unsplit, and the network term checked by adding latency (tc netem) on the links.

Run alone (it times things): `flock /tmp/hl-heavy.lock python bench/rpc_split_speed.py` as root.
Prints the veth link's measured RTT and bandwidth, tok/s split vs unsplit with their ratio, and
the extra time per token per ms of added round-trip time against the planner's count of round
trips (one per worker per token: plan/multihost.py).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heavylift.engines.llama_server import free_port  # noqa: E402
from tests.engines import netns  # noqa: E402
from tests.proc_utils import ServeProcess  # noqa: E402

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
LONG = " ".join(["The quick brown fox jumps over the lazy dog."] * 40)
N_RUNS = 3


def rates(url: str, max_tokens: int = 64) -> tuple[float, float]:
    """Median decode tok/s (a greedy 64-token answer) and prefill tok/s (a ~400-token prompt)."""
    decode, prefill = [], []
    with httpx.Client(base_url=url, timeout=600) as c:
        for i in range(N_RUNS):
            r = c.post("/chat/completions", json={"messages": [{"role": "user", "content": PROMPT}],
                                                   "max_tokens": max_tokens, "temperature": 0}).json()
            decode.append(r["timings"]["predicted_per_second"])
            r = c.post("/chat/completions", json={"messages": [{"role": "user", "content": f"{i} {LONG}"}],
                                                   "max_tokens": 1, "temperature": 0, "cache_prompt": False}).json()
            prefill.append(r["timings"]["prompt_per_second"])
    return statistics.median(decode), statistics.median(prefill)


def link(host: netns.NetnsHost) -> tuple[float, float]:
    """TCP round trip (1-byte ping-pong, median of 2000) and one-way bandwidth (64 MiB) over the veth."""
    port = free_port()
    code = ("import socket,sys\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            f"s.bind(('{host.address}',{port}));s.listen(1);print('ok',flush=True)\n"
            "c,_=s.accept();c.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1)\n"
            "while True:\n b=c.recv(1)\n if b!=b'x': break\n c.sendall(b'y')\n"
            "n=0\nwhile True:\n d=c.recv(1<<20)\n if not d: break\n n+=len(d)\n")
    server = subprocess.Popen(host.cmd(sys.executable, "-c", code), stdout=subprocess.PIPE, text=True)
    server.stdout.readline()
    s = socket.create_connection((host.address, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rtts = []
    for _ in range(2000):
        t = time.perf_counter()
        s.sendall(b"x")
        s.recv(1)
        rtts.append(time.perf_counter() - t)
    s.sendall(b"z")
    blob = b"\0" * (1 << 20)
    t = time.perf_counter()
    for _ in range(64):
        s.sendall(blob)
    s.close()
    server.wait(timeout=60)
    return statistics.median(rtts), 64 * (1 << 20) / (time.perf_counter() - t)


def main() -> int:
    why = netns.can_run()
    if why:
        print(f"skipped: {why}")
        return 0
    hosts = netns.create(2, "bench")
    workers = []
    try:
        rtt, bw = link(hosts[0])
        print(f"veth link: TCP round trip {rtt * 1e6:.0f} us (median of 2000), {bw / 1e9:.2f} GB/s one way")
        for h in hosts:
            w = subprocess.Popen(h.cmd(sys.executable, "-m", "heavylift", "worker", "start", "--host", h.address,
                                       "--port", "50052", "--threads", "2"),
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            w.stdout.readline()
            workers.append(w)
        endpoints = ",".join(f"{h.address}:50052" for h in hosts)
        unsplit = ServeProcess("--port", str(free_port()), "--threads", "2")
        try:
            u_dec, u_pre = rates(unsplit.url)
        finally:
            unsplit.stop()
        split = ServeProcess("--port", str(free_port()), "--threads", "2", "--network", "loopback",
                             "--workers", endpoints)
        try:
            s_dec, s_pre = rates(split.url)
            rows = [(0.0, s_dec)]
            try:
                for ms in (1.0, 2.0):
                    for h in hosts:
                        h.delay(ms)
                    d, _ = rates(split.url, max_tokens=32)
                    rows.append((ms, d))
                for h in hosts:
                    h.delay(0)
            except subprocess.CalledProcessError:  # a kernel without sch_netem: the latency part is skipped
                print("added latency: skipped (tc netem is not available in this kernel)")
        finally:
            log = split.stop()
        predicted = next((ln for ln in log.splitlines() if "predicted decode" in ln), "")
        print(f"decode  tok/s: unsplit {u_dec:6.1f}   split over 2 netns workers {s_dec:6.1f}   "
              f"ratio {s_dec / u_dec:.2f}")
        print(f"prefill tok/s: unsplit {u_pre:6.1f}   split over 2 netns workers {s_pre:6.1f}   "
              f"ratio {s_pre / u_pre:.2f}")
        print(f"planner: {predicted.replace('serve: ', '')}")
        base = 1 / rows[0][1]
        for ms, d in rows[1:]:
            extra = 1 / d - base
            # netem delays each direction by ms on both links: every round trip to a worker gains 2 x ms
            print(f"+{ms:.0f} ms each way: decode {d:6.1f} tok/s, +{extra * 1000:6.2f} ms per token = "
                  f"{extra / (2 * ms / 1000):.2f} round trips per token (planner: 2, one per worker)")
        print(f"conditions: 2-vCPU VM shared with other work (load average {os.getloadavg()[0]:.1f}), "
              "SmolLM2-135M Q4_1, server and workers 2 threads each; medians of 3 runs")
    finally:
        for w in workers:
            w.terminate()
            w.wait(timeout=30)
        netns.remove(hosts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
