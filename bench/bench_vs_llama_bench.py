"""The HTTP path against llama.cpp's own llama-bench, in one run on the same model, flags and threads.

Runs `heavylift bench MODEL --against-llama-bench --json` (default: the default model, prompt 512,
gen 128, 5 repeats) and prints, per configuration, ours / llama-bench for pp and tg: the client's
prefill (computed prompt tokens / time to first token) over llama-bench's pp, and the client's
decode ((tokens - 1) / (last - first token)) over llama-bench's tg at the same depth. Also the
engine's own timings over llama-bench, which separates the HTTP path's cost from the server's.
Target: >= 0.95 for both on the default model. A benchmark, not a timed test; run it alone:

    flock /tmp/hl-heavy.lock python bench/bench_vs_llama_bench.py [--model default] [--repeats 5]
        [--prompt-lengths 512] [--gen 128] [--depths 0] [-- ENGINE FLAGS]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

TARGET = 0.95


def main() -> int:
    argv = sys.argv[1:]
    extra = argv[argv.index("--"):] if "--" in argv else []
    argv = argv[: len(argv) - len(extra)]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--repeats", default="5")
    ap.add_argument("--prompt-lengths", default="512")
    ap.add_argument("--gen", default="128")
    ap.add_argument("--depths", default="0")
    args = ap.parse_args(argv)
    cmd = [sys.executable, "-m", "heavylift", "bench", args.model, "--against-llama-bench", "--json",
           "--repeats", args.repeats, "--prompt-lengths", args.prompt_lengths, "--gen", args.gen,
           "--depths", args.depths, *extra]
    print("$ heavylift " + " ".join(cmd[3:]), flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        return proc.returncode
    rows = json.loads(proc.stdout)
    load = os.getloadavg()[0]
    print(f"\nrun {rows[0]['run_id']}: {rows[0]['model']} {rows[0]['quant']}, llama.cpp {rows[0]['engine_version']}, "
          f"{os.cpu_count()} CPUs, load average now {load:.1f}")
    print(f"{'config':14} {'pp ours':>8} {'pp lb':>8} {'ours/lb':>8} {'engine/lb':>9}   "
          f"{'tg ours':>8} {'tg lb':>8} {'ours/lb':>8} {'engine/lb':>9}   {'pred pp':>8} {'pred tg':>8} {'limit pp':>9} {'limit tg':>9}")
    worst = float("inf")
    for r in rows:
        if r["concurrency"] != 1:
            continue
        pp_engine = r["engine_prefill_tps"] / r["llama_bench_pp_tps"] if r["llama_bench_pp_tps"] else None
        tg_engine = r["engine_decode_tps"] / r["llama_bench_tg_tps"] if r["llama_bench_tg_tps"] else None
        worst = min(worst, r["pp_vs_llama_bench"] or 0, r["tg_vs_llama_bench"] or 0)
        print(f"p{r['prompt_tokens']}/d{r['depth']:<8} {r['prefill_tps']:8.1f} {r['llama_bench_pp_tps']:8.1f} "
              f"{r['pp_vs_llama_bench']:8.3f} {_x(pp_engine):>9}   {r['decode_tps']:8.1f} {r['llama_bench_tg_tps']:8.1f} "
              f"{r['tg_vs_llama_bench']:8.3f} {_x(tg_engine):>9}   {_n(r['predicted_prefill_tps'])} "
              f"{_n(r['predicted_decode_tps'])} {_n(r['roofline_prefill_tps'], 9)} {_n(r['roofline_decode_tps'], 9)}")
    print(f"\ntarget: ours/llama-bench >= {TARGET} for pp and tg; worst this run: {worst:.3f} "
          f"({'met' if worst >= TARGET else 'NOT met'})")
    return 0 if worst >= TARGET else 1


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _n(v: float | None, width: int = 8) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:{width}.1f}"


if __name__ == "__main__":
    raise SystemExit(main())
