"""Is llama-server's own prefill slower than llama-bench's on the same kernels? Pair by pair.

A bare llama-server (the engine build heavylift uses, the default model, `-c 768 -np 1 -b 2048 -ub
512 -fa on -t THREADS`; no heavylift in the path) against `llama-bench -p 512 -n 0 -r 1` with the
same compute flags, alternated pair by pair with the order flipped every pair, so slow and fast
periods of a shared machine fall on both sides alike. Each server figure is its own
`timings.prompt_per_second` for a 512-token prompt of random token ids (`cache_prompt` off)
sent right after another such prompt; llama-bench's single run follows its own warm-up run. Prints
each pair and the median ratio (server / llama-bench). `bench/bench_vs_llama_bench.py` compares
heavylift's whole HTTP path instead; this isolates the engine's two programs.
A benchmark, not a timed test; run it alone:

    flock /tmp/hl-heavy.lock python bench/server_vs_llama_bench_pairs.py [--pairs 30] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import time
import urllib.request

from heavylift.bench.llama_bench import bench_binary
from heavylift.bench.machine import physical_cores
from heavylift.models.model_store import ModelStore
from heavylift.setup.engine_build import current_engine

FLAGS = ["-b", "2048", "-ub", "512", "-fa", "on", "-ngl", "0"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None, help="threads for both (default: the physical cores)")
    ap.add_argument("--prompt", type=int, default=512)
    args = ap.parse_args()
    threads = str(args.threads or physical_cores())
    build = current_engine()
    model = ModelStore().get("default").path
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(build.binary("llama-server")), "-m", str(model), "--host", "127.0.0.1", "--port",
                               str(port), "-c", str(args.prompt + 256), "-np", "1", "-t", threads, *FLAGS],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rng = random.Random(1)

    def server_pp() -> float:
        body = {"prompt": [rng.randrange(1000, 40000) for _ in range(args.prompt)], "n_predict": 1,
                "cache_prompt": False, "top_k": 1, "id_slot": 0}
        req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as resp:
            return json.loads(resp.read())["timings"]["prompt_per_second"]

    def bench_pp() -> float:
        out = subprocess.run([str(bench_binary(build)), "-m", str(model), "-p", str(args.prompt), "-n", "0", "-r", "1",
                              "-t", threads, *[x if x != "on" else "1" for x in FLAGS], "-o", "json"],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)[0]["avg_ts"]

    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except OSError:
                time.sleep(0.1)
        ratios = []
        print(f"llama-server vs llama-bench, pp{args.prompt}, {threads} threads, {' '.join(FLAGS)}; {model.name}")
        for i in range(args.pairs):
            if i % 2:  # flip the order every pair
                server_pp()
                srv = server_pp()
                lb = bench_pp()
            else:
                lb = bench_pp()
                server_pp()
                srv = server_pp()
            ratios.append(srv / lb)
            print(f"pair {i + 1:2}/{args.pairs}: server {srv:7.1f} tok/s   llama-bench {lb:7.1f} tok/s   "
                  f"ratio {srv / lb:.3f}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"median server / llama-bench over {len(ratios)} pairs: {statistics.median(ratios):.3f} "
          f"(pairs {min(ratios):.3f}-{max(ratios):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
