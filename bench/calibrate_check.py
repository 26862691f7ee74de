"""Does `heavylift bench --calibrate` transfer? Calibrate on the dense default model only, then predict
its 4-expert top-2 MoE upcycle (`heavylift models upcycle`, the fixture of bench/plan_speed.py) and
measure it: decode (tg128) and prefill (pp512) at depths 0 and 4096, flash attention on, all
physical cores, llama-bench. Prints the errors before (public fit, `plan --hw local --uncalibrated`)
and after (the calibrated profile). Target: calibrated within +-10% on every MoE figure.
Like `bench --calibrate`, it also times the graph-overhead probe (a 64-wide random llama with the dense
model's layer count, bench/calibrate.py): a measurement of the machine's fixed cost per layer, not a model.

A second table fits on the dense model AND the MoE at the shallowest depth (what
`heavylift bench default MOE.gguf --calibrate --depths 0` would do) and predicts the MoE deeper:
it separates what the dense runs cannot say (the two MoE constants) from the rest.
The profiles are fitted here and NOT stored (the machine's own profile is left as it is).
Not a timed test; run it on an idle machine (the load average is printed).

    python bench/calibrate_check.py [--repetitions 2] [--rounds 3] [--depths 0,4096] [--save M.json | --from M.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from heavylift import paths
from heavylift.bench.calibrate import Point, fit_profile, format_profile, measure, probe_model
from heavylift.bench.machine import load_average
from heavylift.bench.session import machine_info
from heavylift.bench.store import BenchStore
from heavylift.hardware.spec import detect_local
from heavylift.models.model_store import ModelStore
from heavylift.models.moe_upcycle import upcycle, upcycle_cache_path
from heavylift.plan.model_source import resolve
from heavylift.plan.speed_cases import case_for
from heavylift.plan.speed_params import SpeedParams

TARGET = 0.10


def table(title: str, src, points: list[Point], rig_before, rig, calibrated: SpeedParams) -> float:
    """Print before/after per point; the worst |calibrated error|."""
    print(f"\n{title}")
    print(f"{'test':8} {'depth':>6} {'measured':>9} {'spread':>7} {'public fit':>11} {'err':>6} {'calibrated':>11} "
          f"{'err':>7}")
    public, worst = SpeedParams.fitted(), 0.0
    for pt in points:
        n_prompt, n_gen = (pt.n_prompt, 0) if pt.test == "pp" else (0, pt.n_gen)
        before = case_for(src, rig_before, pt.test, n_prompt, n_gen, pt.depth, True, pt.measured).predict(public)
        after = case_for(src, rig, pt.test, n_prompt, n_gen, pt.depth, True, pt.measured).predict(calibrated)
        err = after / pt.measured - 1
        worst = max(worst, abs(err))
        test = f"pp{n_prompt}" if pt.test == "pp" else f"tg{n_gen}"
        sp = f"{pt.spread:.0%}" if len(pt.rounds) > 1 else "-"
        print(f"{test:8} {pt.depth:6} {pt.measured:9.1f} {sp:>7} {before:11.1f} {before / pt.measured - 1:+6.0%} "
              f"{after:11.1f} {err:+7.1%}")
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repetitions", type=int, default=2)
    ap.add_argument("--gen", type=int, default=128, help="decode tokens per tg run (longer runs are steadier "
                    "on a shared machine; `bench --calibrate` defaults to 32)")
    ap.add_argument("--rounds", type=int, default=3, help="measure the two models in turn this many times, "
                    "each point the median of its rounds (bench/calibrate.py measure)")
    ap.add_argument("--depths", default="0,4096")
    ap.add_argument("--save", type=Path, metavar="JSON", help="also write the measurements here")
    ap.add_argument("--from", dest="source", type=Path, metavar="JSON",
                    help="re-fit on measurements a --save wrote, without measuring")
    args = ap.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    dense = ModelStore().get("default").path
    moe = upcycle_cache_path(dense, 4, 2, paths.cache_dir())
    if not moe.exists():
        upcycle(dense, moe, 4, 2)
    info = machine_info(BenchStore(), print)
    if args.source:
        saved = json.loads(args.source.read_text())
        dense_pts = [Point(**p) for p in saved["dense"]]
        moe_pts = [Point(**p) for p in saved["moe"]]
        probe_pts = [Point(**p) for p in saved.get("probe", [])]  # older files: measured without the probe
        print(f"measurements from {args.source} (load average then: {saved['load']})")
    else:
        start = os.getloadavg()
        print(f"load average at the start: {' '.join(f'{x:.2f}' for x in start)} ({os.cpu_count()} logical cores)")
        # both models in turn, `--rounds` times, each point the median of its rounds (bench/calibrate.py measure)
        runs, _ = measure(["default", str(moe)], 512, args.gen, depths, args.repetitions, info.physical_cores, print,
                          rounds=args.rounds)
        dense_pts, moe_pts, probe_pts = runs[0][3], runs[1][3], runs[2][3]
        end = os.getloadavg()
        load = f"{' '.join(f'{x:.2f}' for x in start)} at the start, {' '.join(f'{x:.2f}' for x in end)} at the end"
        print(f"load average (1, 5, 15 min): {load}")
        if args.save:
            args.save.write_text(json.dumps({"dense": [dataclasses.asdict(p) for p in dense_pts],
                                             "moe": [dataclasses.asdict(p) for p in moe_pts],
                                             "probe": [dataclasses.asdict(p) for p in probe_pts], "load": load},
                                            indent=1))
    rig_before = detect_local(calibrated=False)
    cores = info.physical_cores
    rig = dataclasses.replace(rig_before, ram_bandwidth_bps=info.triad_bandwidth_bps, cpu_cores=cores)
    src_dense, src_moe = resolve(str(dense), None), resolve(str(moe), None)
    probe_label, probe_path, probe_src = probe_model(src_dense.arch.n_layer)
    probe_run = [(probe_label, probe_path, probe_src, probe_pts)] if probe_pts else []

    def fitted(runs):
        return fit_profile(runs + probe_run, rig, info.fingerprint, info.cpu_model, cores, info.triad_bandwidth_bps,
                           None, "", rig_before)

    only_dense = fitted([("dense", dense, src_dense, [dataclasses.replace(p) for p in dense_pts])])
    print("\n".join(format_profile(only_dense)))
    worst = table(f"MoE fixture {moe.name}, calibrated on the dense model only (the target):", src_moe, moe_pts,
                  rig_before, rig, only_dense.speed_params())
    shallow = min(p.depth for p in moe_pts)
    both = fitted([("dense", dense, src_dense, [dataclasses.replace(p) for p in dense_pts]),
                   ("moe", moe, src_moe, [dataclasses.replace(p) for p in moe_pts if p.depth == shallow])])
    table(f"for comparison: calibrated on dense + the MoE at depth {shallow} (the MoE rows at depth {shallow} were "
          "fitted, the deeper ones are predicted):", src_moe, moe_pts, rig_before, rig, both.speed_params())
    pub = SpeedParams.fitted().cpu
    print(f"  MoE constants from that fit: expert_eff {both.params['cpu']['expert_eff']:.3g}, moe_layer_s "
          f"{both.params['cpu']['moe_layer_s']:.3g}, moe_half_tokens {both.params['cpu']['moe_half_tokens']:.3g} "
          f"(public fit {pub.expert_eff:.3g}, {pub.moe_layer_s:.3g}, {pub.moe_half_tokens:.3g})")
    now = load_average()
    if any(len(p.rounds) > 1 for p in dense_pts + moe_pts):
        noise = max(p.spread for p in dense_pts + moe_pts)
        print(f"\nround-to-round spread of the measurements themselves (dense and MoE): up to {noise:.0%}")
    print(f"\nworst MoE error calibrated on the dense model only: {worst:.1%} (target {TARGET:.0%}): "
          f"{'met' if worst <= TARGET else 'MISSED'}; 1-minute load average now {now if now is not None else 'unknown'}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
