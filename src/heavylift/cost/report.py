"""`heavylift cost`: the inputs checked and echoed, the local side and every API worked out, and the
text / JSON the CLI prints (`--json` is `CostReport`'s asdict, with the keys issue 13 names)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from heavylift.cost.model import (
    ApiResult,
    LocalResult,
    LocalSide,
    Workload,
    api_result,
    local_result,
    plan_split,
)
from heavylift.cost.prices import ApiPrice, default_names, parse_api
from heavylift.cost.sources import Speeds
from heavylift.errors import UsageError

DEFAULT_MONTHS = 36


@dataclass
class CostRequest:
    workload: Workload
    speeds: Speeds
    hardware_usd: float | None
    months: float
    electricity_usd_per_kwh: float | None
    power_w: float | None
    idle_power_w: float | None
    hours_per_day: float
    apis: list[str] = field(default_factory=list)
    batch_discount: float | None = None


@dataclass
class CostReport:
    inputs: dict
    local_monthly_usd: float
    api_monthly_usd: float | None  # the first API's headline figure
    breakeven_per_month: float | None  # against that API
    capacity_per_month: float
    machines_needed: int
    local: LocalResult
    apis: list[ApiResult]
    unit: str  # "document" or "inference"
    notes: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def check(req: CostRequest) -> None:
    w = req.workload
    for label, value in (("--per-month", w.per_month), ("--input-tokens", w.input_tokens),
                         ("--output-tokens", w.output_tokens), ("--questions-per-doc", w.questions_per_doc),
                         ("--months", req.months), ("--hours-per-day", req.hours_per_day),
                         ("--prefill-tps", req.speeds.prefill_tps), ("--decode-tps", req.speeds.decode_tps)):
        if value is None or value <= 0:
            raise UsageError(f"{label} must be greater than zero (got {value})")
    for label, value in (("--hardware-cost", req.hardware_usd), ("--electricity", req.electricity_usd_per_kwh),
                         ("--power-w", req.power_w)):
        if value is not None and value <= 0:
            raise UsageError(f"{label} must be greater than zero (got {value})")
    if req.idle_power_w is not None and req.idle_power_w < 0:
        raise UsageError(f"--idle-power-w cannot be negative (got {req.idle_power_w})")
    if req.hours_per_day > 24:
        raise UsageError(f"--hours-per-day {req.hours_per_day} is more than a day has; use 0 < H <= 24")
    if w.cached_share is not None and not 0 <= w.cached_share < 1:
        raise UsageError(f"--cached-share {w.cached_share} must be a fraction from 0 to below 1")
    if req.batch_discount is not None and not 0 < req.batch_discount < 1:
        raise UsageError(f"--batch-discount {req.batch_discount} must be a fraction above 0 and below 1 (0.5 = 50% off)")
    if w.question_tokens >= w.input_tokens:
        raise UsageError(f"--question-tokens {w.question_tokens:,} must be less than --input-tokens {w.input_tokens:,}")


def compute(req: CostRequest) -> CostReport:
    check(req)
    w, sp = req.workload, req.speeds
    hardware = req.hardware_usd or sp.hardware_usd
    if hardware is None:
        raise UsageError("the hardware cost is unknown: give --hardware-cost USD (what the machine cost)")
    if req.electricity_usd_per_kwh is None:
        raise UsageError("give --electricity USD_PER_KWH (your tariff, e.g. 0.15); heavylift does not guess it")
    power = req.power_w or sp.power_w
    if power is None:
        raise UsageError("power is unknown (nothing measured it): give --power-w W, e.g. the machine's TDP sum")
    notes = list(sp.notes)
    if req.power_w:
        notes.append(f"power {req.power_w:,.0f} W given (--power-w)")
    idle = req.idle_power_w if req.idle_power_w is not None else sp.idle_power_w
    if idle is None:
        notes.append("idle power not given (--idle-power-w): the hours the machine waits cost nothing here")
    if req.hardware_usd:
        notes.append(f"hardware ${req.hardware_usd:,.0f} given (--hardware-cost)")
    local = LocalSide(sp.prefill_tps, sp.decode_tps, hardware, req.months, req.electricity_usd_per_kwh, power, idle,
                      req.hours_per_day, sp.context_tokens, sp.label)
    lr = local_result(w, local)
    split = plan_split(w, sp.context_tokens)
    if split:
        notes.insert(0, "CONTEXT: " + split.describe(w, "the local model"))
    prices: list[ApiPrice] = [parse_api(a) for a in (req.apis or default_names())]
    apis = [api_result(w, p, local, lr, req.batch_discount) for p in prices]
    unit = "document" if w.questions_per_doc > 1 else "inference"
    inputs = {
        "per_month": w.per_month, "unit": unit, "input_tokens": w.input_tokens, "output_tokens": w.output_tokens,
        "questions_per_doc": w.questions_per_doc, "question_tokens": w.question_tokens,
        "cached_share": w.cached_share, "cached_share_used": w.cache_share,
        "prefill_tps": sp.prefill_tps, "decode_tps": sp.decode_tps, "speeds_from": sp.label,
        "context_tokens": sp.context_tokens, "hardware_cost_usd": hardware, "months": req.months,
        "electricity_usd_per_kwh": req.electricity_usd_per_kwh, "power_w": power, "idle_power_w": idle,
        "hours_per_day": req.hours_per_day, "hours_per_month": local.hours_available,
        "apis": [p.name for p in prices], "batch_discount": req.batch_discount,
    }
    first = apis[0]
    return CostReport(inputs=inputs, local_monthly_usd=lr.monthly_usd, api_monthly_usd=first.monthly_usd,
                      breakeven_per_month=first.breakeven_per_month, capacity_per_month=lr.capacity_per_month,
                      machines_needed=lr.machines_needed, local=lr, apis=apis, unit=unit, notes=notes)


def _usd(v: float | None, missing: str = "unknown") -> str:
    if v is None:
        return missing
    if abs(v) >= 100:
        return f"${v:,.0f}"
    return f"${v:,.2f}" if abs(v) >= 0.1 else f"${v:.4f}"


def _dur(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_report(r: CostReport) -> list[str]:
    i, lr, u = r.inputs, r.local, r.unit
    q = i["questions_per_doc"]
    lines = [f"workload: {i['per_month']:,} {u}s/month; each {u}: " + (f"{q} questions sharing the document, " if q > 1 else "")
             + f"{i['input_tokens']:,} input + {i['output_tokens']:,} output tokens per request"
             + (f"; cached share {i['cached_share_used']:.0%}" + (" (given)" if i["cached_share"] is not None else
                                                                " (compute-once: each document computed once, then only the questions)")
                if i["cached_share_used"] else ""),
             f"local: {i['speeds_from']}; prefill {i['prefill_tps']:,.1f} tok/s, decode {i['decode_tps']:,.1f} tok/s; "
             f"${i['hardware_cost_usd']:,.0f} over {i['months']:g} months, {i['power_w']:,.0f} W busy"
             + (f", {i['idle_power_w']:,.0f} W idle" if i["idle_power_w"] else "")
             + f", ${i['electricity_usd_per_kwh']}/kWh, {i['hours_per_day']:g} h/day ({i['hours_per_month']:,.0f} h/month)",
             ""]
    lines += [f"LOCAL  machine time per {u}: {_dur(lr.seconds_per_unit)}"
              + (f" ({_dur(lr.seconds_per_unit_no_cache)} without the cache)" if lr.seconds_per_unit_no_cache != lr.seconds_per_unit else ""),
              f"       capacity: {lr.capacity_per_month:,.1f} {u}s/month per machine"
              + (f" ({lr.capacity_no_cache_per_month:,.1f} without the cache)" if lr.capacity_no_cache_per_month != lr.capacity_per_month else "")
              + f"; the month's {i['per_month']:,} need {lr.machines_needed} machine(s)"
              + (" <- MORE THAN ONE" if lr.machines_needed > 1 else ""),
              f"       monthly: hardware {_usd(lr.hardware_monthly_usd)} + energy {_usd(lr.energy_busy_usd)} "
              f"({lr.busy_hours:,.0f} busy h)" + (f" + idle {_usd(lr.energy_idle_usd)} ({lr.idle_hours:,.0f} h)" if lr.energy_idle_usd else "")
              + f" = {_usd(lr.monthly_usd)}  ({_usd(lr.per_unit_usd)} per {u})", ""]
    lines.append(f"{'API':26} {'monthly':>10} {'cached':>10} {'batch':>10} {'cach+bat':>10} {'per ' + u:>14} {'break-even /month':>22}")
    for a in r.apis:
        be = f"{a.breakeven_per_month:,.0f}" if a.breakeven_per_month is not None else a.breakeven_note.split(":")[0]
        lines.append(f"{a.name[:26]:26} {_usd(a.monthly_usd):>10} {_usd(a.monthly_cached_usd):>10} {_usd(a.monthly_batch_usd, 'no batch'):>10} "
                     f"{_usd(a.monthly_cached_batch_usd, 'no batch'):>10} {_usd(a.monthly_usd / i['per_month'] if a.monthly_usd is not None else None):>14} {be:>22}")
    lines.append(f"{'local (this rig)':26} {_usd(r.local_monthly_usd):>10} {'':>10} {'':>10} {'':>10} {_usd(lr.per_unit_usd):>14}")
    lines += ["", "monthly = the definition's figure (no cache, no batch discount unless --cached-share / --batch-discount "
                  "asked); cached / batch / cach+bat = with the provider's cache and batch prices"]
    for a in r.apis:
        for n in a.notes + ([a.breakeven_note] if a.breakeven_note and a.monthly_usd is not None else []):
            lines.append(f"  {a.name}: {n}")
    lines += ["", "where the figures come from:"] + [f"  - {n}" for n in r.notes]
    lines += [f"  - {a.name}: {a.source} ({a.source_kind}" + (f", read {a.read_on})" if a.read_on else ")") for a in r.apis]
    return lines
