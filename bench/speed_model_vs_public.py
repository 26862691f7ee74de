"""The speed model against published llama.cpp measurements it was not fitted on.

For every `split=holdout` row of src/heavylift/plan/data/public_measurements.csv that the model
can predict (its model in the catalog, its hardware in the device catalog): the row, the
measured tok/s, the prediction with the committed constants (plan/data/speed_params.json) and
their ratio; then median |error| and the worst ratio for decode and prefill, overall and per class
(full GPU dense, full GPU MoE, hybrid = GPU + weights in RAM, CPU, unified memory), the same for
the fit rows, our own GPU check's rows (split=ours, bench/gpu) in a table of their own, and the rows
that could not be predicted with the reason. No engine, no timing.

    python bench/speed_model_vs_public.py [--fit-rows] [--csv PATH]

Targets on the held-out rows: decode median |error| <= 25%, worst <= 2x; prefill median <= 35%.
They are judged over every held-out row, and again without the rows whose own source says the
machine ran below what the row states (plan/speed_cases.py BELOW_STATED_HW).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from heavylift.plan.speed_cases import CLASSES, CSV_PATH, Case, build_all, load_rows
from heavylift.plan.speed_fit import summary
from heavylift.plan.speed_params import QUANT_FAMILIES, SpeedParams

TARGETS = {"decode": (0.25, 2.0), "prefill": (0.35, None)}


def placement_text(c: Case) -> str:
    lay, row = c.geo.layout, c.row
    if not c.rig.gpus:
        return f"CPU {sum(c.rig.threads())}t"
    gpus = f"{lay.n_gpu} GPU" if lay.n_gpu == 1 else f"{lay.n_gpu} GPUs"
    if c.rig.is_unified:
        return "unified"
    if row.get("override_tensors", "").strip():
        in_ram = sum(1 for e in lay.experts if e == lay.host) if any(c.geo.layers.experts) else 0
        return f"{gpus}, -ot: FFN of {in_ram} layers in RAM"
    if row.get("n_cpu_moe", "").strip():
        return f"{gpus}, -ncmoe {row['n_cpu_moe']}"
    if lay.host in lay.layer:
        return f"{gpus}, -ngl {row.get('ngl')}"
    return gpus


def print_rows(cases: list[Case], params: SpeedParams) -> None:
    print(f"{'id':6} {'class':14} {'model':22} {'quant':9} {'hw':30} {'placement':26} {'test':>9} {'depth':>6} "
          f"{'measured':>9} {'predicted':>9} {'ratio':>6}")
    for c in sorted(cases, key=lambda c: (CLASSES.index(c.cls), c.row["backend"], c.row["hw"], c.row["model_key"],
                                          c.test, c.depth)):
        pred = c.predict(params)
        test = f"{c.test}{c.n_prompt or c.n_gen}"
        print(f"{c.row['id']:6} {c.cls:14} {c.row['model_key'][:22]:22} {c.row['quant'][:9]:9} "
              f"{(c.row['backend'] + ' ' + c.row['hw'])[:30]:30} {placement_text(c)[:26]:26} {test:>9} {c.depth:6} "
              f"{c.measured:9.1f} {pred:9.1f} {pred / c.measured:6.2f}")


def print_summary(title: str, cases: list[Case], params: SpeedParams, check: bool) -> bool:
    print(f"\n{title}: {len(cases)} rows")
    ok = True
    for label, s in summary(cases, params).items():
        kind = label.split(" /")[0]
        verdict = ""
        if check and label in TARGETS:
            med, worst = TARGETS[kind]
            hit = s["median_abs_err"] <= med and (worst is None or s["worst"] <= worst)
            ok &= hit
            verdict = ("  target: median <= " + f"{med:.0%}" + (f", worst <= {worst:.0f}x" if worst else "")
                       + ("  MET" if hit else "  MISSED"))
        print(f"  {label:28} rows {s['rows']:3}   median |error| {s['median_abs_err']:6.1%}   "
              f"worst {s['worst']:5.2f}x{verdict}")
    return ok


def print_constants(p: SpeedParams) -> None:
    print(f"constants: {p.label}")
    names = list(next(iter(p.backends.values())).__dict__)
    backends = [b for b in ("cuda", "rocm", "vulkan", "metal") if b in p.backends]
    print(f"{'GPU constant':20}" + "".join(f"{b:>11}" for b in backends) + "   rows informing it (cuda/rocm/vulkan/metal)")
    for name in names:
        vals = "".join(f"{getattr(p.backends[b], name):>11.3g}" for b in backends)
        rows = "/".join(p.source(f"{b}.{name}").split(" ")[3] if "fit on" in p.source(f"{b}.{name}") else "prior"
                        for b in backends)  # "fit on the N split=fit rows ..." -> N
        print(f"{name:20}{vals}   {rows}")
    print(f"\n{'CPU constant':24}{'value':>11}   source")
    for name, value in p.cpu.__dict__.items():
        print(f"{name:24}{value:>11.3g}   {p.source('cpu.' + name)}")
    print(f"\n{'weight family':14}{'GPU decode':>11}{'GPU prefill':>12}{'CPU decode':>11}{'CPU prefill':>12}   rows")
    for fam in QUANT_FAMILIES:
        rows = "/".join(p.source(f"{k}.{d}.{fam}").split(" ")[3] if "fit on" in p.source(f"{k}.{d}.{fam}") else
                        ("ref" if fam == "k" else "prior") for d in ("gpu", "cpu") for k in ("qd", "qp"))
        print(f"{fam:14}{p.qd('gpu', fam):>11.3g}{p.qp('gpu', fam):>12.3g}{p.qd('cpu', fam):>11.3g}"
              f"{p.qp('cpu', fam):>12.3g}   {rows}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=CSV_PATH, help="measurement file (default: the committed one)")
    ap.add_argument("--fit-rows", action="store_true", help="also print the fit rows one by one")
    ap.add_argument("--constants", action="store_true", help="print the committed constants and their sources, then stop")
    args = ap.parse_args()
    params = SpeedParams.fitted()
    if args.constants:
        print_constants(params)
        return 0
    rows = load_rows(args.csv)
    print(f"{args.csv.name}: {len(rows)} rows ({Counter(r['split'] for r in rows)['holdout']} held out); "
          f"constants: {params.label}")
    cases, skipped = build_all(rows)
    hold = [c for c in cases if c.row["split"] == "holdout"]
    fit = [c for c in cases if c.row["split"] == "fit" and c.hw_as_stated]  # as speed_fit fits them
    ours = [c for c in cases if c.row["split"] == "ours"]
    print("\nheld-out rows, predicted vs measured (tok/s):")
    print_rows(hold, params)
    ok = print_summary("HELD-OUT", hold, params, check=True)
    complete = [c for c in hold if c.spec_complete]
    print_summary("HELD-OUT, rows whose hw spec states the host RAM where the prediction needs it "
                  f"({len(hold) - len(complete)} CPU/hybrid rows without RAM channels or bandwidth left out)",
                  complete, params, check=True)
    stated = [c for c in hold if c.hw_as_stated]
    left = ", ".join(sorted(c.row["id"] for c in hold if not c.hw_as_stated))
    ok_stated = print_summary(f"HELD-OUT, rows whose machine ran as their hw states (left out: {left}, whose source "
                              "says the machine ran below it; plan/speed_cases.py BELOW_STATED_HW)",
                              stated, params, check=True)
    print_summary("FIT SET (for comparison; the constants were fitted on these)", fit, params, check=False)
    if args.fit_rows:
        print("\nfit rows:")
        print_rows(fit, params)
    if ours:
        print("\nour own GPU check (split=ours: bench/gpu/device_check.sh on a lent GPU; neither fitted on nor "
              "held out):")
        print_rows(ours, params)
        print_summary("OURS", ours, params, check=False)
    if skipped:
        print(f"\nnot predicted: {len(skipped)} rows "
              f"({Counter(r['split'] for r, _ in skipped)['holdout']} of them held out)")
        for reason, n in Counter(reason for _, reason in skipped).most_common():
            print(f"  {n:3}  {reason}")
    print(f"\nheld-out targets {'all met' if ok else 'NOT all met'} over every held-out row; "
          f"{'all met' if ok_stated else 'NOT all met'} over the rows whose machine ran as stated")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
