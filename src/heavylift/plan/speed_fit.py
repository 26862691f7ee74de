"""Fit the speed model's constants on the `split=fit` rows of the public measurement set.

    python -m heavylift.plan.speed_fit            # fit, print the fit-set errors, write the JSON

Method: regularised, robust least squares on log errors, with numpy only. The unknowns are the
logs of the constants (fit_keys); the residuals are log(predicted / measured) for every fit row
(soft-L1 weighted: a row off by more than 1.5x counts less and less) plus,
for every constant, (log value - log prior) / sigma: a constant that no row informs stays at its
prior (plan/speed_params.py), one that many rows inform follows them. Levenberg-Marquardt steps
with a forward-difference Jacobian, each constant kept inside its physical bounds (an efficiency
never above 1). The held-out rows are never read here. The result, with a per-constant note of
how many rows informed it, goes to plan/data/speed_params.json; the tool reads that file and never
re-fits at run time.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict

import numpy as np

from heavylift.plan.speed_cases import Case, build_all, load_rows
from heavylift.plan.speed_params import PARAMS_FILE, PRIOR_SOURCES, QUANT_FAMILIES, SpeedParams

log = logging.getLogger(__name__)
GPU_BACKENDS = ("cuda", "metal", "vulkan", "rocm")
# constant -> (prior sigma in log units, lower bound, upper bound)
_BACKEND_KEYS = {
    # efficiencies: the prior is a guess within ~2.7x (sigma 1); the bandwidth one is better known
    "bw_eff": (0.5, 0.2, 0.98), "moe_read_eff": (0.5, 0.2, 0.98), "kv_eff": (1.0, 0.02, 0.98), "mm_eff": (1.0, 0.02, 0.98),
    "moe_mm_eff": (1.0, 0.01, 0.98), "attn_eff": (1.0, 0.005, 0.98), "attn_tile_eff": (1.0, 0.002, 0.98), "link_eff": (0.4, 0.2, 0.98),
    "hbm_factor": (0.5, 0.3, 1.5), "nofa_prefill_factor": (0.7, 0.5, 4.0), "half_tokens": (1.0, 1.0, 2048.0),
    "moe_half_tokens": (1.0, 0.5, 1024.0), "vec_kv_miss": (0.7, 0.02, 1.0),
    "dec_attn_eff": (1.0, 0.002, 0.98), "size_exp": (0.3, 0.4, 1.2),
    # fixed costs: known to an order of magnitude
    "token_s": (1.5, 1e-5, 20e-3), "layer_s": (1.5, 1e-7, 500e-6), "moe_layer_s": (1.5, 1e-7, 1e-3),
    "hop_s": (1.5, 1e-6, 1e-3), "ubatch_layer_s": (1.5, 1e-7, 5e-3),
    "recurrent_layer_s": (3.0, 1e-7, 5e-3), "recurrent_token_s": (3.0, 1e-9, 1e-4),
}
_CPU_KEYS = {
    "bw_eff": (0.5, 0.2, 0.98), "decode_bps_per_core": (1.0, 0.5e9, 60e9), "expert_eff": (0.7, 0.1, 1.0), "moe_layer_s": (1.5, 1e-7, 1e-3),
    "kv_bps_per_core": (1.0, 0.1e9, 50e9), "fa_flops_per_core": (1.0, 0.2e9, 200e9),
    "prefill_flops_per_core": (1.0, 5e9, 500e9), "attn_nofa_eff": (0.7, 0.05, 2.0), "layer_s": (1.5, 1e-7, 1e-3),
    "attn_fa_eff": (0.7, 0.05, 2.0), "attn_fa_vec_eff": (0.7, 0.01, 2.0), "moe_half_tokens": (1.0, 0.5, 4096.0), "recurrent_layer_s": (3.0, 1e-7, 5e-3),
    "numa_gain": (0.7, 0.0, 1.0),
    "neon_decode_scale": (1.0, 0.05, 1.5), "neon_prefill_scale": (1.0, 0.05, 1.5), "little_core_share": (1.0, 0.05, 1.0),
}
PRIOR_WEIGHT = 1.0  # a constant's prior counts like one row at e^sigma error


# quant-family factors (K-quants are the reference, fixed at 1): (sigma, lower, upper)
_QUANT = (0.5, 0.2, 3.0)
_QUANT_WIDE = {"qd.cpu.f16": (0.5, 0.5, 6.0)}  # a per-weight prior of 3.56 (plan/speed_params.py)


def fit_keys() -> list[tuple[str, float, float, float]]:
    keys = [(f"{b}.{k}", *v) for b in GPU_BACKENDS for k, v in _BACKEND_KEYS.items()]
    keys += [(f"cpu.{k}", *v) for k, v in _CPU_KEYS.items()]
    return keys + [(f"{kind}.{dev}.{fam}", *_QUANT_WIDE.get(f"{kind}.{dev}.{fam}", _QUANT))
                   for kind in ("qd", "qp") for dev in ("gpu", "cpu")
                   for fam in QUANT_FAMILIES if fam != "k"]


def _target(p: SpeedParams, key: str) -> tuple[object, str]:
    group, name = key.split(".", 1)
    if group in ("qd", "qp"):
        return (p.quant_decode if group == "qd" else p.quant_prefill), name
    return (p.cpu if group == "cpu" else p.backends[group]), name


def get(p: SpeedParams, key: str) -> float:
    obj, name = _target(p, key)
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def with_values(base: SpeedParams, keys: list[str], values: np.ndarray) -> SpeedParams:
    p = copy.deepcopy(base)
    for key, v in zip(keys, values, strict=True):
        obj, name = _target(p, key)
        if isinstance(obj, dict):
            obj[name] = float(v)
        else:
            setattr(obj, name, float(v))
    return p


def _uses(case: Case, key: str) -> bool:
    group = key.split(".")[0]
    lay = case.geo.layout
    on_cpu = lay.host in lay.layer or lay.host in lay.experts or not case.rig.gpus
    if group in ("qd", "qp"):
        _, dev, fam = key.split(".")
        tests = ("tg", "pg") if group == "qd" else ("pp", "pg")
        if fam != case.geo.family or case.test not in tests:
            return False
        return on_cpu if dev == "cpu" else bool(case.rig.gpus)
    if group == "cpu":
        if key.startswith("cpu.neon_"):
            return on_cpu and case.rig.cpu_simd == "neon" and not case.rig.is_unified
        if key == "cpu.little_core_share":
            return on_cpu and case.rig.little_cores > 0
        return on_cpu
    return any(g.backend == group for g in case.rig.gpus)


def log_errors(cases: list[Case], p: SpeedParams) -> np.ndarray:
    return np.array([math.log(c.predict(p) / c.measured) for c in cases])


ROBUST_SCALE = math.log(1.5)  # rows off by more than 1.5x weigh less and less (soft-L1 loss)


def fit(cases: list[Case], base: SpeedParams | None = None, iterations: int = 40,
        rounds: int = 4, only: Collection[str] | None = None,
        bounds: dict[str, tuple[float, float]] | None = None) -> tuple[SpeedParams, dict[str, int]]:
    """The constants minimising the regularised, robust log errors over `cases`, and per constant
    the number of rows that depend on it. Robust: iteratively reweighted least squares with soft-L1
    weights, so that a row the model cannot know (a board whose CPU and RAM the spec leaves out)
    does not drag the constants every other row shares. `only`: fit just these keys ("cpu.bw_eff", ...),
    the rest stay at `base` (a machine calibration fits the CPU's constants on a few runs);
    `bounds`: (lower, upper) per key instead of fit_keys()'s."""
    base = base or SpeedParams.priors()
    spec = [k for k in fit_keys() if k[0].split(".")[0] in (*base.backends, "cpu", "qd", "qp")
            and (only is None or k[0] in only)]
    uses = {k[0]: [i for i, c in enumerate(cases) if _uses(c, k[0])] for k in spec}
    spec = [k for k in spec if uses[k[0]]]
    spec = [(k[0], k[1], *(bounds or {}).get(k[0], k[2:])) for k in spec]  # a caller's own bounds win
    keys = [k[0] for k in spec]
    sigma = np.array([k[1] for k in spec])
    lo, hi = np.log([max(k[2], 1e-12) for k in spec]), np.log([k[3] for k in spec])
    prior = np.log([get(base, k) for k in keys])
    theta = np.clip(prior.copy(), lo, hi)  # the prior term is 0 at the prior; bounds keep physics
    weights = np.ones(len(cases))
    for _ in range(rounds):
        theta = _lm(cases, base, keys, uses, theta, prior, sigma, lo, hi, weights, iterations)
        errs = log_errors(cases, with_values(base, keys, np.exp(theta)))
        weights = 1.0 / np.sqrt(np.sqrt(1.0 + (errs / ROBUST_SCALE) ** 2))  # soft-L1 as weighted squares
    fitted = with_values(base, keys, np.exp(theta))
    return fitted, _informing_rows(cases, fitted, keys, uses)


def _informing_rows(cases: list[Case], p: SpeedParams, keys: list[str], uses: dict[str, list[int]]) -> dict[str, int]:
    """Per constant, the rows whose prediction moves when it moves (a 1% change, > 0.01% effect)."""
    base = [math.log(c.predict(p)) for c in cases]
    out = {}
    for key in keys:
        moved = with_values(p, [key], np.array([get(p, key) * 1.01]))
        out[key] = sum(1 for i in uses[key] if abs(math.log(cases[i].predict(moved)) - base[i]) > 1e-4)
    return out


def _lm(cases: list[Case], base: SpeedParams, keys: list[str], uses: dict[str, list[int]], theta: np.ndarray,
        prior: np.ndarray, sigma: np.ndarray, lo: np.ndarray, hi: np.ndarray, weights: np.ndarray,
        iterations: int) -> np.ndarray:
    """Levenberg-Marquardt on the weighted log errors plus the prior pseudo-rows."""
    n = len(cases)

    def residuals(t: np.ndarray) -> np.ndarray:
        errs = log_errors(cases, with_values(base, keys, np.exp(t)))
        return np.concatenate([weights * errs, math.sqrt(PRIOR_WEIGHT) * (t - prior) / sigma])

    r = residuals(theta)
    lam = 1e-2
    for it in range(iterations):
        jac = np.zeros((len(r), len(theta)))
        for j, key in enumerate(keys):
            h = 1e-3
            t2 = theta.copy()
            t2[j] += h
            p2 = with_values(base, keys, np.exp(t2))
            for i in uses[key]:
                jac[i, j] = (weights[i] * math.log(cases[i].predict(p2) / cases[i].measured) - r[i]) / h
            jac[n + j, j] = math.sqrt(PRIOR_WEIGHT) / sigma[j]
        g = jac.T @ r
        a = jac.T @ jac
        improved = False
        for _ in range(8):
            step = np.linalg.solve(a + lam * np.diag(np.diag(a) + 1e-9), -g)
            cand = np.clip(theta + step, lo, hi)
            rc = residuals(cand)
            if rc @ rc < r @ r:
                theta, r, lam, improved = cand, rc, max(lam / 3, 1e-6), True
                break
            lam *= 4
        log.debug("iteration %d: cost %.4f lambda %.2g improved %s", it, float(r @ r), lam, improved)
        if not improved or np.max(np.abs(step)) < 1e-4:
            break
    return theta


def summary(cases: list[Case], p: SpeedParams) -> dict[str, dict[str, float]]:
    """Per class and test kind: rows, median |error|, worst ratio (max of pred/meas, meas/pred)."""
    groups: dict[str, list[float]] = {}
    for c in cases:
        ratio = c.predict(p) / c.measured
        kind = "decode" if c.test == "tg" else "prefill"
        for label in (kind, f"{kind} / {c.cls}"):
            groups.setdefault(label, []).append(ratio)
    out = {}
    for label, ratios in sorted(groups.items()):
        errs = sorted(abs(x - 1) for x in ratios)
        out[label] = {"rows": len(ratios), "median_abs_err": float(np.median(errs)),
                      "worst": float(max(max(x, 1 / x) for x in ratios))}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="fit the speed model on the split=fit public rows")
    ap.add_argument("--dry-run", action="store_true", help="print, do not write plan/data/speed_params.json")
    args = ap.parse_args()
    rows = [r for r in load_rows() if r["split"] == "fit"]
    cases, skipped = build_all(rows)
    below = sorted(c.row["id"] for c in cases if not c.hw_as_stated)
    cases = [c for c in cases if c.hw_as_stated]  # no --hw describes their machine (BELOW_STATED_HW)
    print(f"{len(rows)} fit rows: {len(cases)} predictable, {len(skipped)} skipped, "
          f"{len(below)} left out whose source says the machine ran below its hw ({', '.join(below)})")
    for reason, n in Counter(reason for _, reason in skipped).most_common():
        print(f"  skipped {n:3}: {reason}")
    params, informed = fit(cases)
    classes = Counter(c.cls for c in cases)
    params.label = (f"public fit: {len(cases)} split=fit rows of plan/data/public_measurements.csv "
                    f"({', '.join(f'{n} {k}' for k, n in classes.items())}), plan/speed_fit.py")
    for key, n in informed.items():
        params.sources[key] = (f"fit on the {n} split=fit rows whose prediction depends on it" if n else
                               PRIOR_SOURCES.get(key, "prior (plan/speed_params.py): no fit row depends on it"))
    for key, text in PRIOR_SOURCES.items():  # a cited prior that no fit row touches
        if not informed.get(key):
            params.sources[key] = text
    for label, s in summary(cases, params).items():
        print(f"  fit set {label:28} rows {s['rows']:3}  median |err| {s['median_abs_err']:5.1%}  worst {s['worst']:4.2f}x")
    if not args.dry_run:
        PARAMS_FILE.write_text(json.dumps(asdict(params), indent=1, sort_keys=True) + "\n")
        print(f"wrote {PARAMS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
