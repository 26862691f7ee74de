"""llama.cpp RPC across hosts, for real: two workers in two network namespaces (their own addresses,
joined by veth pairs), `heavylift serve --workers` in the root namespace.

- the split model answers exactly as the unsplit one (greedy);
- killing a worker mid-request fails that request, serve says which worker is gone and waits,
  and answers again (the same) once the worker is back;
- an unreachable worker and a worker of another RPC protocol version are refused before anything
  is launched.
Marked `netns`; skipped with the reason when namespaces cannot be made (not root, no `ip`).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import httpx
import pytest

from heavylift.engines.llama_server import free_port
from tests.conftest import run_cli
from tests.engines import netns
from tests.proc_utils import ServeProcess, children, is_alive, wait_until

pytestmark = pytest.mark.netns
REASON = netns.can_run()
PROMPTS = ["What is the capital of France?", "Name three colours of the rainbow."]


class Worker:
    """`heavylift worker start` inside a namespace."""

    def __init__(self, host: netns.NetnsHost, port: int = 50052):
        self.host, self.port = host, port
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.host.address}:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.host.cmd(sys.executable, "-m", "heavylift", "worker", "start", "--host",
                                                   self.host.address, "--port", str(self.port), "--threads", "1"),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        line = self.proc.stdout.readline().strip()
        assert line == self.endpoint, (line, self.proc.stderr.read() if self.proc.poll() is not None else "")

    def kill_server(self) -> None:
        """SIGKILL the ggml-rpc-server itself, as a crash or a pulled cable would end it."""
        for pid in _descendants(self.proc.pid):
            try:
                if b"ggml-rpc-server" in open(f"/proc/{pid}/cmdline", "rb").read():
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


@pytest.fixture(scope="module")
def hosts(installed):
    if REASON:
        pytest.skip(REASON)
    made = netns.create(2, f"t{os.getpid() % 100000}")
    workers = [Worker(h) for h in made]
    try:
        for w in workers:
            w.start()
        yield workers
    finally:
        for w in workers:
            w.stop()
        netns.remove(made)


def answers(base_url: str, max_tokens: int = 24) -> tuple[list[str], float]:
    """Greedy answers to PROMPTS, and the mean decode tok/s the engine reports."""
    texts, rates = [], []
    with httpx.Client(base_url=base_url, timeout=300) as client:
        for prompt in PROMPTS:
            r = client.post("/chat/completions", json={"messages": [{"role": "user", "content": prompt}],
                                                        "max_tokens": max_tokens, "temperature": 0, "seed": 0})
            r.raise_for_status()
            data = r.json()
            texts.append(data["choices"][0]["message"]["content"])
            rates.append(data["timings"]["predicted_per_second"])
    return texts, sum(rates) / len(rates)


def test_split_answers_exactly_as_unsplit(hosts):
    unsplit = ServeProcess("--port", str(free_port()), "--threads", "1")
    try:
        expected, unsplit_tps = answers(unsplit.url)
    finally:
        unsplit.stop()
    split = ServeProcess("--port", str(free_port()), "--threads", "1", "--network", "loopback",
                         "--workers", ",".join(w.endpoint for w in hosts))
    try:
        got, split_tps = answers(split.url)
    finally:
        log = split.stop()
    assert got == expected, (got, expected)
    assert "--rpc " + ",".join(w.endpoint for w in hosts) in log, log
    for w in hosts:  # both workers hold layers
        assert f"serve:   {w.endpoint}" in log and f"{w.endpoint}          layers -" not in log, log
    print(f"\nRPC split over 2 netns workers: {split_tps:.1f} tok/s, unsplit {unsplit_tps:.1f} tok/s")


def test_worker_killed_mid_request_then_back(hosts):
    serve = ServeProcess("--port", str(free_port()), "--threads", "1", "--network", "loopback",
                         "--workers", ",".join(w.endpoint for w in hosts))
    try:
        expected, _ = answers(serve.url)
        outcome: dict = {}

        def long_request() -> None:
            try:
                with httpx.Client(base_url=serve.url, timeout=120) as client:
                    outcome["response"] = client.post("/chat/completions", json={
                        "messages": [{"role": "user", "content": "Write a long story about a lighthouse."}],
                        "max_tokens": 400, "temperature": 0})
            except httpx.HTTPError as e:
                outcome["error"] = e

        t = threading.Thread(target=long_request)
        t.start()
        time.sleep(1.5)  # decoding by now
        hosts[1].kill_server()
        t.join(timeout=120)
        assert "error" in outcome or outcome["response"].status_code >= 500, outcome
        time.sleep(6)  # serve notices, and waits for the worker rather than crashing again
        hosts[1].start()
        # serve restarts the engine once the worker answers again, and answers the same
        assert wait_until(lambda: _healthy(serve.url), 180), "serve did not recover"
        again, _ = answers(serve.url)
        assert again == expected
    finally:
        log = serve.stop()
    assert re.search(r"engine exited \(code -?\d+\): ", log), log  # with the engine log's last error
    assert f"worker {hosts[1].endpoint} is unreachable" in log and "waiting for it" in log, log
    assert "engine restarted" in log, log
    assert "Traceback" not in log


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url.removesuffix("/v1") + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_unreachable_worker_refused_before_launch(hosts):
    before = set(children(os.getpid()))
    proc = run_cli("serve", "--port", str(free_port()), "--workers", f"{hosts[0].host.address}:50099", timeout=60)
    assert proc.returncode != 0
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "serve: starting" not in proc.stderr  # nothing was launched
    assert set(children(os.getpid())) <= before | {p for p in children(os.getpid()) if not is_alive(p)}


class _OtherVersionWorker:
    """Answers the HELLO handshake as a llama.cpp of another RPC protocol would (v6.1.0): stands in
    for an older build on another host, which this machine cannot have."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(1 + 8 + 24)
                conn.sendall(struct.pack("<Q", 28) + bytes([6, 1, 0, 0]) + bytes(24))
                conn.recv(64)

    def close(self) -> None:
        self.sock.close()


def test_incompatible_worker_version_refused():
    fake = _OtherVersionWorker()
    try:
        proc = run_cli("serve", "--port", str(free_port()), "--workers", f"127.0.0.1:{fake.port}", timeout=60)
    finally:
        fake.close()
    assert proc.returncode != 0
    assert "speaks llama.cpp RPC protocol v6.1.0" in proc.stderr and "v7.0.0" in proc.stderr, proc.stderr
    assert "serve: starting" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "8.8.8.8"])
def test_worker_refuses_public_bind(host):
    proc = run_cli("worker", "start", "--host", host, "--port", str(free_port()), timeout=60)
    assert proc.returncode == 2
    assert "no authentication" in proc.stderr and "--i-understand-rpc-is-unauthenticated" in proc.stderr
    assert "Traceback" not in proc.stderr
