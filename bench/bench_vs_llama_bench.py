"""The HTTP path against llama.cpp's own llama-bench, in one run on the same model, flags and threads.

Runs `heavylift bench MODEL --against-llama-bench --json` (default: the default model, prompt 512,
gen 128, 5 repeats) `--rounds` times (default 5) and prints, per round and configuration, ours /
llama-bench for pp and tg: the client's prefill (computed prompt tokens / time to first token) over
llama-bench's pp, and the client's decode ((tokens - 1) / (last - first token)) over llama-bench's tg
at the same depth; each side is the median of its repetitions. Also the engine's own timings over
llama-bench (separates the HTTP path's cost from the server's) and the prompt tokens the engine
computed (llama-bench's pp computes exactly P). The verdict pools every round: the median of all our
repetitions over the median of all llama-bench's, with a 95% bootstrap interval
(src/heavylift/bench/results.py ratio_interval). Where llama-bench ran one repetition after each of
ours (interleaved, the default where both fit in memory), the pairs are resampled; where it ran in
a block after ours, the rounds are resampled and then the repetitions inside each. On this shared 2-core VM a
single repetition moves 10-15% either way and one round's ratio 0.8-1.1, so the pooled figure is the
estimate and the interval says whether the repetitions can tell it from 0.95; the per-round ratios
are printed too. Target: >= 0.95 for both on the default model.
A benchmark, not a timed test; run it alone:

    flock /tmp/hl-heavy.lock python bench/bench_vs_llama_bench.py [--model default] [--repeats 5]
        [--rounds 5] [--prompt-lengths 512] [--gen 128] [--depths 0] [--sampling greedy] [-- ENGINE FLAGS]
    python bench/bench_vs_llama_bench.py --runs RUN,RUN,...   (judge stored rounds again, measure nothing)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from heavylift.bench.results import ConfigResult, ratio_interval

TARGET = 0.95


def main() -> int:
    argv = sys.argv[1:]
    extra = argv[argv.index("--"):] if "--" in argv else []
    argv = argv[: len(argv) - len(extra)]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--repeats", default="5")
    ap.add_argument("--rounds", type=int, default=5, help="whole runs (ours then llama-bench); the verdict pools them")
    ap.add_argument("--prompt-lengths", default="512")
    ap.add_argument("--gen", default="128")
    ap.add_argument("--depths", default="0")
    ap.add_argument("--sampling", default="greedy", help="greedy (default) or default: the server's sampler chain")
    ap.add_argument("--runs", help="judge these stored runs (RUN,RUN,...: earlier rounds of this script) instead of "
                                   "measuring new ones")
    args = ap.parse_args(argv)
    cmd = [sys.executable, "-m", "heavylift", "bench", args.model, "--against-llama-bench", "--json",
           "--repeats", args.repeats, "--prompt-lengths", args.prompt_lengths, "--gen", args.gen,
           "--depths", args.depths, "--sampling", args.sampling, *extra]
    stored = [int(x) for x in args.runs.split(",")] if args.runs else []
    if stored:
        args.rounds = len(stored)
        print(f"stored runs {', '.join(map(str, stored))} (no new measurement)", flush=True)
    else:
        print("$ heavylift " + " ".join(cmd[3:]) + f"   (x{args.rounds} rounds)", flush=True)
    ratios: dict[str, dict[str, list]] = {}
    for rnd in range(1, args.rounds + 1):
        if stored:
            rows, when = _stored_rows(stored[rnd - 1]), "stored"
        else:
            load_before = os.getloadavg()[0]
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            if proc.returncode != 0:
                return proc.returncode
            rows = json.loads(proc.stdout)
            when = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
        print(f"\nround {rnd}/{args.rounds}, run {rows[0]['run_id']}: {rows[0]['model']} {rows[0]['quant']}, "
              f"llama.cpp {rows[0]['engine_version']}, {os.cpu_count()} CPUs, {when}")
        print(f"{'config':14} {'prompt_n':>8} {'pp ours':>8} {'pp lb':>8} {'ours/lb':>8} {'engine/lb':>9}   "
              f"{'tg ours':>8} {'tg lb':>8} {'ours/lb':>8} {'engine/lb':>9}   {'pred pp':>8} {'pred tg':>8} "
              f"{'limit pp':>9} {'limit tg':>9}")
        for r in rows:
            if r["concurrency"] != 1 or not r["llama_bench_pp_tps"] or not r["llama_bench_tg_tps"]:
                continue
            pp_engine = _div(r["engine_prefill_tps"], r["llama_bench_pp_tps"])
            tg_engine = _div(r["engine_decode_tps"], r["llama_bench_tg_tps"])
            mine = ratios.setdefault(f"p{r['prompt_tokens']}/d{r['depth']}", {k: [] for k in (
                "pp", "tg", "pp_engine", "tg_engine", "pp_ours", "pp_lb", "tg_ours", "tg_lb")})
            # the bootstrap's units: each interleaved pair, or each round's two blocks (results.py)
            result = ConfigResult.from_dict(r)
            for kind, metric in (("pp", "prefill_tps"), ("tg", "decode_tps")):
                ours, lb = result.llama_bench_groups(metric, r.get(f"llama_bench_{kind}_samples_tps") or [])
                mine[f"{kind}_ours"] += ours
                mine[f"{kind}_lb"] += lb
            mine["pp"].append(r["pp_vs_llama_bench"])
            mine["tg"].append(r["tg_vs_llama_bench"])
            mine["pp_engine"].append(pp_engine)
            mine["tg_engine"].append(tg_engine)
            print(f"p{r['prompt_tokens']}/d{r['depth']:<8} {_n(r.get('engine_prompt_tokens'))} {r['prefill_tps']:8.1f} "
                  f"{r['llama_bench_pp_tps']:8.1f} {r['pp_vs_llama_bench']:8.3f} {_x(pp_engine):>9}   "
                  f"{r['decode_tps']:8.1f} {r['llama_bench_tg_tps']:8.1f} {r['tg_vs_llama_bench']:8.3f} "
                  f"{_x(tg_engine):>9}   {_n(r['predicted_prefill_tps'])} {_n(r['predicted_decode_tps'])} "
                  f"{_n(r['roofline_prefill_tps'], 9)} {_n(r['roofline_decode_tps'], 9)}")
    print(f"\npooled over {args.rounds} round(s): median of all our repetitions / median of all llama-bench's, "
          "95% bootstrap interval (interleaved pairs resampled; block rounds resampled, then the repetitions inside each)")
    worst = float("inf")
    undecided = []
    for label, m in ratios.items():
        parts = []
        for kind in ("pp", "tg"):
            ours, lb = _flat(m[f"{kind}_ours"]), _flat(m[f"{kind}_lb"])
            pooled = statistics.median(ours) / statistics.median(lb) if ours and lb else statistics.median(m[kind])
            ci = ratio_interval(m[f"{kind}_ours"], m[f"{kind}_lb"])
            worst = min(worst, pooled)
            if ci and ci[0] < TARGET <= ci[1]:
                undecided.append(f"{label} {kind}")
            parts.append(f"{kind} ours/lb {pooled:.3f} (95% {_ci(ci)}; {len(ours)} vs {len(lb)} repetitions; "
                         f"median of rounds {statistics.median(m[kind]):.3f}: {_list(m[kind])}; engine/lb "
                         f"{_x(_med(m[f'{kind}_engine']))})")
        print(f"{label:14} " + "\n               ".join(parts))
    verdict = "met" if worst >= TARGET else "NOT met"
    print(f"\ntarget: ours/llama-bench >= {TARGET} for pp and tg (client clock, pooled); worst: {worst:.3f} ({verdict})")
    if undecided:
        print(f"  the 95% interval spans {TARGET} for {', '.join(undecided)}: this machine's noise leaves that "
              f"verdict open; more rounds narrow it")
    return 0 if worst >= TARGET else 1


def _stored_rows(run_id: int) -> list[dict]:
    from heavylift.bench.report import json_rows
    from heavylift.bench.store import BenchStore

    return json_rows(BenchStore().get(run_id))


def _flat(groups: list[list[float]]) -> list[float]:
    return [x for g in groups for x in g]


def _ci(ci: tuple[float, float] | None) -> str:
    return f"{ci[0]:.3f}-{ci[1]:.3f}" if ci else "-"


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
