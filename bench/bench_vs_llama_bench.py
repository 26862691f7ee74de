"""The HTTP path against llama.cpp's own llama-bench, in one run on the same model, flags and threads.

Runs `heavylift bench MODEL --against-llama-bench --json` (default: the default model, prompt 512,
gen 128, 5 repeats) `--rounds` times (default 3) and prints, per round and configuration, ours /
llama-bench for pp and tg: the client's prefill (computed prompt tokens / time to first token) over
llama-bench's pp, and the client's decode ((tokens - 1) / (last - first token)) over llama-bench's tg
at the same depth; each side is the median of its repetitions. Also the engine's own timings over
llama-bench (separates the HTTP path's cost from the server's) and the prompt tokens the engine
computed (llama-bench's pp computes exactly P). The verdict uses the median over rounds of the
client-clock ratios: each round pairs ours with llama-bench minutes apart, and on a shared 2-core
machine one round can catch another process. Target: >= 0.95 for both on the default model.
A benchmark, not a timed test; run it alone:

    flock /tmp/hl-heavy.lock python bench/bench_vs_llama_bench.py [--model default] [--repeats 5]
        [--rounds 3] [--prompt-lengths 512] [--gen 128] [--depths 0] [--sampling greedy] [-- ENGINE FLAGS]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    ap.add_argument("--rounds", type=int, default=3, help="whole runs (ours then llama-bench); the verdict is their median")
    ap.add_argument("--prompt-lengths", default="512")
    ap.add_argument("--gen", default="128")
    ap.add_argument("--depths", default="0")
    ap.add_argument("--sampling", default="greedy", help="greedy (default) or default: the server's sampler chain")
    args = ap.parse_args(argv)
    cmd = [sys.executable, "-m", "heavylift", "bench", args.model, "--against-llama-bench", "--json",
           "--repeats", args.repeats, "--prompt-lengths", args.prompt_lengths, "--gen", args.gen,
           "--depths", args.depths, "--sampling", args.sampling, *extra]
    print("$ heavylift " + " ".join(cmd[3:]) + f"   (x{args.rounds} rounds)", flush=True)
    ratios: dict[str, dict[str, list[float]]] = {}
    for rnd in range(1, args.rounds + 1):
        load_before = os.getloadavg()[0]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            return proc.returncode
        rows = json.loads(proc.stdout)
        print(f"\nround {rnd}/{args.rounds}, run {rows[0]['run_id']}: {rows[0]['model']} {rows[0]['quant']}, "
              f"llama.cpp {rows[0]['engine_version']}, {os.cpu_count()} CPUs, load average {load_before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after")
        print(f"{'config':14} {'prompt_n':>8} {'pp ours':>8} {'pp lb':>8} {'ours/lb':>8} {'engine/lb':>9}   "
              f"{'tg ours':>8} {'tg lb':>8} {'ours/lb':>8} {'engine/lb':>9}   {'pred pp':>8} {'pred tg':>8} "
              f"{'limit pp':>9} {'limit tg':>9}")
        for r in rows:
            if r["concurrency"] != 1 or not r["llama_bench_pp_tps"] or not r["llama_bench_tg_tps"]:
                continue
            pp_engine = _div(r["engine_prefill_tps"], r["llama_bench_pp_tps"])
            tg_engine = _div(r["engine_decode_tps"], r["llama_bench_tg_tps"])
            mine = ratios.setdefault(f"p{r['prompt_tokens']}/d{r['depth']}", {"pp": [], "tg": [], "pp_engine": [],
                                                                               "tg_engine": []})
            mine["pp"].append(r["pp_vs_llama_bench"])
            mine["tg"].append(r["tg_vs_llama_bench"])
            mine["pp_engine"].append(pp_engine)
            mine["tg_engine"].append(tg_engine)
            print(f"p{r['prompt_tokens']}/d{r['depth']:<8} {_n(r.get('engine_prompt_tokens'))} {r['prefill_tps']:8.1f} "
                  f"{r['llama_bench_pp_tps']:8.1f} {r['pp_vs_llama_bench']:8.3f} {_x(pp_engine):>9}   "
                  f"{r['decode_tps']:8.1f} {r['llama_bench_tg_tps']:8.1f} {r['tg_vs_llama_bench']:8.3f} "
                  f"{_x(tg_engine):>9}   {_n(r['predicted_prefill_tps'])} {_n(r['predicted_decode_tps'])} "
                  f"{_n(r['roofline_prefill_tps'], 9)} {_n(r['roofline_decode_tps'], 9)}")
    print(f"\nmedian over {args.rounds} round(s):")
    worst = float("inf")
    for label, m in ratios.items():
        pp, tg = statistics.median(m["pp"]), statistics.median(m["tg"])
        worst = min(worst, pp, tg)
        print(f"{label:14} pp ours/lb {pp:.3f} (engine/lb {_x(_med(m['pp_engine']))}, rounds {_list(m['pp'])})   "
              f"tg ours/lb {tg:.3f} (engine/lb {_x(_med(m['tg_engine']))}, rounds {_list(m['tg'])})")
    print(f"\ntarget: ours/llama-bench >= {TARGET} for pp and tg (client clock, median over rounds); worst: "
          f"{worst:.3f} ({'met' if worst >= TARGET else 'NOT met'})")
    return 0 if worst >= TARGET else 1


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _med(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _list(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _n(v: float | None, width: int = 8) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:{width}.1f}"


if __name__ == "__main__":
    raise SystemExit(main())
