"""Does `heavylift bench --calibrate` transfer? Calibrate on the dense default model only, then predict
its 4-expert top-2 MoE upcycle (`heavylift models upcycle`, the fixture of bench/plan_speed.py) and
measure it: decode (tg32) and prefill (pp512) at depths 0 and 4096, flash attention on, all
physical cores, llama-bench. Prints the errors before (public fit, `plan --hw local --uncalibrated`)
and after (the calibrated profile). Target: calibrated within +-10% on every MoE figure.
The profile is fitted here and NOT stored (the machine's own profile is left as it is).
Not a timed test; run it on an idle machine (the load average is printed).

    python bench/calibrate_check.py [--repetitions 2] [--depths 0,4096]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from heavylift import paths
from heavylift.bench.calibrate import calibrate, format_profile, measure
from heavylift.bench.machine import load_average
from heavylift.bench.session import machine_info
from heavylift.bench.store import BenchStore
from heavylift.hardware.spec import detect_local
from heavylift.models.model_store import ModelStore
from heavylift.models.moe_upcycle import upcycle, upcycle_cache_path
from heavylift.plan.speed_cases import case_for
from heavylift.plan.speed_params import SpeedParams

TARGET = 0.10


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repetitions", type=int, default=2)
    ap.add_argument("--depths", default="0,4096")
    ap.add_argument("--save", type=Path, metavar="JSON", help="also write the measurements and the profile here")
    args = ap.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    dense = ModelStore().get("default").path
    moe = upcycle_cache_path(dense, 4, 2, paths.cache_dir())
    if not moe.exists():
        upcycle(dense, moe, 4, 2)
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} logical cores)")
    prof = calibrate(["default"], prompt=512, gen=32, depths=depths, repeats=args.repetitions, store=False)
    print("\n".join(format_profile(prof)))
    info = machine_info(BenchStore(), print)
    runs, _ = measure([str(moe)], 512, 32, depths, args.repetitions, prof.physical_cores, print)
    rig_before = detect_local(calibrated=False)
    rig = dataclasses.replace(rig_before, ram_bandwidth_bps=info.triad_bandwidth_bps, cpu_cores=prof.physical_cores)
    public, calibrated = SpeedParams.fitted(), prof.speed_params()
    print(f"\nMoE fixture {moe.name} (never seen by the calibration); load average now "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'test':8} {'depth':>6} {'measured':>9} {'public fit':>11} {'err':>6} {'calibrated':>11} {'err':>6}")
    worst = 0.0
    for _label, _path, src, points in runs:
        for pt in points:
            n_prompt, n_gen = (pt.n_prompt, 0) if pt.test == "pp" else (0, pt.n_gen)
            before = case_for(src, rig_before, pt.test, n_prompt, n_gen, pt.depth, True, pt.measured).predict(public)
            after = case_for(src, rig, pt.test, n_prompt, n_gen, pt.depth, True, pt.measured).predict(calibrated)
            err = after / pt.measured - 1
            worst = max(worst, abs(err))
            test = f"pp{n_prompt}" if pt.test == "pp" else f"tg{n_gen}"
            print(f"{test:8} {pt.depth:6} {pt.measured:9.1f} {before:11.1f} {before / pt.measured - 1:+6.0%} "
                  f"{after:11.1f} {err:+6.1%}")
    if args.save:
        import json

        args.save.write_text(json.dumps({"profile": prof.to_dict(), "moe": [dataclasses.asdict(pt) for *_, pts in runs
                                                                              for pt in pts]}, indent=1))
    load = load_average()
    print(f"worst calibrated MoE error {worst:.1%} (target {TARGET:.0%}): {'met' if worst <= TARGET else 'MISSED'}; "
          f"1-minute load average at the end {load if load is not None else 'unknown'}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
