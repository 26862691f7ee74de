"""Predicted vs measured decode and prefill speed on this CPU, for the dense default model and its
4-expert top-2 MoE upcycle, at cached depths 0 / 1024 / 4096 with flash attention on and off.

Measured with llama-bench (tg32 and pp512 at each depth, all cores). Predicted by the speed model
for `--hw local` twice:
- "public": the constants fitted on public measurements (plan/data/speed_params.json). A core
  count cannot say how fast a core is (a cloud vCPU runs the same kernels 2-4x slower than a
  desktop core), so these are expected to be off by a machine-wide factor;
- "calibrated": the same model after measuring this machine's core speed ONCE, from the dense
  model's tg32 and pp512 at depth 0 with flash attention on (bench/calibrate.py core_speed,
  step 1 of `heavylift bench --calibrate`: the per-core decode/KV rates and the per-core FLOP
  rate each scaled by one bounded factor). Everything else (the MoE's experts, the KV cache at depth, flash attention off)
  is predicted, not fitted. Target: calibrated decode within 0.75..1.25 of measured.
Not a timed test.

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
from heavylift.bench.calibrate import core_speed
from heavylift.hardware.spec import detect_local
from heavylift.models.model_store import ModelStore
from heavylift.models.moe_upcycle import upcycle, upcycle_cache_path
from heavylift.plan.model_source import resolve
from heavylift.plan.speed_cases import case_for
from heavylift.plan.speed_params import SpeedParams
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
    depths = [int(d) for d in args.depths.split(",")]
    print(f"machine: {threads} cores, {rig.cpu_simd}; llama-bench tg32 / pp512 at depths {args.depths}, "
          f"{args.repetitions} repetitions, {threads} threads; load average {os.getloadavg()[0]:.1f} at the start")
    cases = []
    for label, path in (("dense", dense), ("moe-4x-top2", moe)):
        src = resolve(str(path), None)
        measured = measure(bench, path, threads, args.repetitions, args.depths)
        for fa in (True, False):
            for depth in depths:
                cases.append((label, fa, depth,
                              case_for(src, rig, "tg", 0, 32, depth, fa, measured[("tg", depth, fa)]),
                              case_for(src, rig, "pp", 512, 0, depth, fa, measured[("pp", depth, fa)])))
    load = os.getloadavg()[1]
    if load > threads:
        print(f"WARNING: 5-minute load average {load:.1f} on {threads} cores while measuring: other processes "
              "shared the cores, the measurements below are not this machine's speed; re-run on an idle machine")
    public = SpeedParams.fitted()
    anchor = next(c for c in cases if c[0] == "dense" and c[1] and c[2] == 0)
    calibrated, factors = core_speed([anchor[3], anchor[4]], public)
    print(f"calibration on dense tg32 + pp512 at depth 0, FA on: this machine's cores run "
          f"{factors['decode']:.2f}x the public per-core decode rates and {factors['prefill']:.2f}x the FLOP rate")
    print(f"{'model':12} {'FA':3} {'depth':>5}  {'decode public':>13} {'calibr.':>8} {'measured':>9} {'ratio':>6}   "
          f"{'prefill public':>14} {'calibr.':>8} {'measured':>9} {'ratio':>6}")
    worst = 1.0
    for label, fa, depth, tg, pp in cases:
        d_pub, d_cal = tg.predict(public), tg.predict(calibrated)
        p_pub, p_cal = pp.predict(public), pp.predict(calibrated)
        worst = max(worst, d_cal / tg.measured, tg.measured / d_cal)
        print(f"{label:12} {'on' if fa else 'off':3} {depth:5}  {d_pub:13.1f} {d_cal:8.1f} {tg.measured:9.1f} "
              f"{d_cal / tg.measured:6.2f}   {p_pub:14.1f} {p_cal:8.1f} {pp.measured:9.1f} {p_cal / pp.measured:6.2f}")
    print(f"target: calibrated decode ratio within 0.75..1.25; worst decode ratio this run: {worst:.2f}x off")
    return 0 if worst <= 1.25 else 1


if __name__ == "__main__":
    raise SystemExit(main())
