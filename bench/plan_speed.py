"""Predicted vs measured decode and prefill speed on this CPU, for the dense default model and its
4-expert top-2 MoE upcycle, at cached depths 0 / 1024 / 4096 with flash attention on and off.
Measured with llama-bench (tg32 and pp512 at each depth, all cores); predicted by the planner for
`--hw local`. Prints predicted, measured and their ratio. Not a timed test.

    python bench/plan_speed.py [--repetitions 2] [--depths 0,1024,4096]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from heavylift import paths
from heavylift.hardware.spec import detect_local
from heavylift.models.model_store import ModelStore
from heavylift.models.moe_upcycle import upcycle, upcycle_cache_path
from heavylift.plan.memory import ContextConfig
from heavylift.plan.model_source import resolve
from heavylift.plan.planner import make_plan
from heavylift.setup.engine_build import current_engine


def measure(bench: Path, model: Path, threads: int, reps: int, depths: str) -> dict[tuple[str, int, bool], float]:
    """{(test, depth, flash_attn): tokens/s} from one llama-bench run."""
    out = subprocess.run([str(bench), "-m", str(model), "-p", "512", "-n", "32", "-d", depths, "-fa", "on,off",
                          "-t", str(threads), "-r", str(reps), "-o", "json"], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        sys.exit(f"llama-bench failed: {out.stderr[-500:]}")
    found = {}
    for r in json.loads(out.stdout):
        test = "pp" if r["n_prompt"] > 0 else "tg"
        found[(test, r["n_depth"], bool(r["flash_attn"]))] = r["avg_ts"]
    return found


def predict(path: Path, rig, depth: int, fa: bool) -> tuple[float, float]:
    """(decode tok/s with `depth` tokens cached, prefill tok/s of 512 tokens after `depth`)."""
    src = resolve(str(path), None)
    # tg32 at depth d reads about d + 16 cached tokens; the plan decodes at a full context.
    decode = make_plan(src, rig, ContextConfig(depth + 16, flash_attn=fa), prompt_tokens=1, suggest=False).decode_tps
    cfg = ContextConfig(depth + 512, flash_attn=fa)

    def prefill_s(n: int) -> float:
        return n / make_plan(src, rig, cfg, prompt_tokens=n, suggest=False).prefill_tps if n else 0.0

    return decode, 512 / (prefill_s(depth + 512) - prefill_s(depth))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repetitions", type=int, default=2)
    ap.add_argument("--depths", default="0,1024,4096")
    args = ap.parse_args()
    dense = ModelStore().get("default").path
    moe = upcycle_cache_path(dense, 4, 2, paths.cache_dir())
    if not moe.exists():
        upcycle(dense, moe, 4, 2)
    bench = current_engine().binary("llama-bench")
    rig = detect_local()
    threads = os.cpu_count() or 1
    print(f"machine: {threads} cores; llama-bench tg32 / pp512 at depths {args.depths}, "
          f"{args.repetitions} repetitions, {threads} threads")
    print(f"{'model':12} {'FA':3} {'depth':>5}  {'decode pred':>11} {'measured':>9} {'ratio':>6}   "
          f"{'prefill pred':>12} {'measured':>9} {'ratio':>6}")
    worst = 1.0
    for label, path in (("dense", dense), ("moe-4x-top2", moe)):
        measured = measure(bench, path, threads, args.repetitions, args.depths)
        for fa in (True, False):
            for depth in (int(d) for d in args.depths.split(",")):
                tg, pp = measured[("tg", depth, fa)], measured[("pp", depth, fa)]
                dec, pre = predict(path, rig, depth, fa)
                worst = max(worst, dec / tg, tg / dec)
                print(f"{label:12} {'on' if fa else 'off':3} {depth:5}  {dec:11.1f} {tg:9.1f} {dec / tg:6.2f}   "
                      f"{pre:12.1f} {pp:9.1f} {pre / pp:6.2f}")
    print(f"target: decode ratio within 0.75..1.25; worst decode ratio this run: {worst:.2f}x off")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
