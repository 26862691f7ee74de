"""Is llama-server's own prefill slower than llama-bench's on the same kernels? Pair by pair.

A bare llama-server (the engine build heavylift uses, the default model, `-c 768 -np 1 -b 2048 -ub
512 -fa on -ngl 0 --fit off -t THREADS`, started and stopped by heavylift's engine class; no
heavylift in the request path: plain HTTP, the server's own timings) against `llama-bench -p 512 -n 0 -r 1` with the
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
import statistics
import subprocess
import urllib.request

from heavylift.bench.llama_bench import bench_binary, command, translate, typical_ts
from heavylift.bench.machine import physical_cores
from heavylift.engines.llama_args import LlamaArgs
from heavylift.engines.llama_server import LlamaServer, LlamaServerConfig, free_port
from heavylift.models.model_store import ModelStore
from heavylift.setup.engine_build import current_engine


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None, help="threads for both (default: the physical cores)")
    ap.add_argument("--prompt", type=int, default=512)
    args = ap.parse_args()
    build = current_engine()
    model = ModelStore().get("default").path
    # the one argv builder (engines/llama_args.py) and the engine's own start / readiness / stop
    settings = LlamaArgs(str(model), ctx_size=args.prompt + 256, num_parallel=1, n_batch=2048, n_ubatch=512,
                         flash_attn=True, n_gpu_layers=0, host="127.0.0.1", port=free_port(),
                         num_threads=args.threads or physical_cores())
    server = LlamaServer(LlamaServerConfig(build.binary("llama-server"), settings))
    # llama-bench with the same compute flags, through the builder `bench --against-llama-bench` uses
    lb_cmd = command(bench_binary(build), model, translate(settings.argv()[1:])[0], [args.prompt], [], [0], 1)
    rng = random.Random(1)

    def server_pp() -> float:
        body = {"prompt": [rng.randrange(1000, 40000) for _ in range(args.prompt)], "n_predict": 1,
                "cache_prompt": False, "top_k": 1, "id_slot": 0}
        req = urllib.request.Request(f"{server.base_url}/completion", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as resp:
            return json.loads(resp.read())["timings"]["prompt_per_second"]

    def bench_pp() -> float:
        out = subprocess.run(lb_cmd, capture_output=True, text=True, check=True).stdout
        return typical_ts(json.loads(out)[0])

    ratios = []
    print(f"$ {server.printable_command}\n$ {' '.join(lb_cmd)}")
    with server:
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
    print(f"median server / llama-bench over {len(ratios)} pairs: {statistics.median(ratios):.3f} "
          f"(pairs {min(ratios):.3f}-{max(ratios):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
