"""Predicted vs measured decode (and prefill) speed on this CPU, for the dense default model and its
4-expert MoE upcycle. Measured with llama-bench (tg64 / pp256, all cores); predicted by the planner
for `--hw local`. Prints predicted, measured and their ratio. Not a timed test.

    python bench/plan_speed.py [--repetitions 3]
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


def measure(bench: Path, model: Path, threads: int, reps: int) -> tuple[float, float]:
    out = subprocess.run([str(bench), "-m", str(model), "-p", "256", "-n", "64", "-t", str(threads), "-r", str(reps),
                          "-o", "json"], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        sys.exit(f"llama-bench failed: {out.stderr[-500:]}")
    rows = json.loads(out.stdout)
    pp = next(r["avg_ts"] for r in rows if r["n_prompt"] > 0)
    tg = next(r["avg_ts"] for r in rows if r["n_gen"] > 0)
    return tg, pp


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repetitions", type=int, default=3)
    args = ap.parse_args()
    dense = ModelStore().get("default").path
    moe = upcycle_cache_path(dense, 4, 2, paths.cache_dir())
    if not moe.exists():
        upcycle(dense, moe, 4, 2)
    bench = current_engine().binary("llama-bench")
    rig = detect_local()
    threads = os.cpu_count() or 1
    print(f"machine: {threads} cores; llama-bench tg64 / pp256, {args.repetitions} repetitions, {threads} threads")
    print(f"{'model':12} {'decode pred':>12} {'measured':>9} {'ratio':>6}   {'prefill pred':>12} {'measured':>9} {'ratio':>6}")
    for label, path in (("dense", dense), ("moe-4x-top2", moe)):
        # llama-bench runs at a short context: plan the same (ctx 512, prompt 256)
        plan = make_plan(resolve(str(path), None), rig, ContextConfig(512), prompt_tokens=256)
        tg, pp = measure(bench, path, threads, args.repetitions)
        print(f"{label:12} {plan.decode_tps:12.1f} {tg:9.1f} {plan.decode_tps / tg:6.2f}   "
              f"{plan.prefill_tps:12.1f} {pp:9.1f} {plan.prefill_tps / pp:6.2f}")
    print("target: decode ratio within 0.75..1.25")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
