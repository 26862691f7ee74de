"""`heavylift serve --plan`: the plan's engine arguments, and the plan set beside what the engine
actually allocated."""

from __future__ import annotations

from pathlib import Path

from heavylift.errors import UsageError
from heavylift.plan.actual import DeviceComparison, compare, nvidia_used_bytes, parse_load_log
from heavylift.plan.planner import Plan

# Flags `heavylift serve` sets itself (model, context, slots, fit) are not taken from the plan.
_OWN_FLAGS = {"-m": 1, "-c": 1, "-np": 1, "--fit": 1}


def plan_for_serve(model: str, ctx: int, n_parallel: int, hw: str) -> Plan:
    from heavylift.hardware.spec import parse_hw
    from heavylift.plan.memory import ContextConfig
    from heavylift.plan.model_source import resolve
    from heavylift.plan.planner import make_plan

    plan = make_plan(resolve(model, None), parse_hw(hw), ContextConfig(ctx, n_parallel))
    if not plan.fits:
        hint = plan.suggestions[0] if plan.suggestions else "see `heavylift plan`"
        raise UsageError(f"the plan for {model} at --ctx {ctx} does not fit on {plan.hardware}; try: {hint}")
    return plan


def engine_args(plan: Plan) -> list[str]:
    """The plan's llama-server placement flags, plus `-lv 4` so the log reports every buffer."""
    args, skip = [], 0
    for a in plan.llama_server_args:
        if skip:
            skip -= 1
        elif a in _OWN_FLAGS:
            skip = _OWN_FLAGS[a]
        else:
            args.append(a)
    return [*args, "-lv", "4"]


def planned_vs_actual(plan: Plan, log_path: Path) -> list[DeviceComparison]:
    """Per device: the plan's llama.cpp buffers (engine overhead excluded: it is no buffer) vs the
    buffers the log reports; with nvidia-smi, the GPUs' measured memory.used vs the whole plan."""
    measured = nvidia_used_bytes()
    actual = parse_load_log(log_path.read_text(errors="replace"))
    planned: dict[str, int] = {}
    n_gpu = 0
    for d in plan.devices:
        if d.name.startswith("GPU"):
            key = f"gpu{n_gpu}"
            n_gpu += 1
            full = measured is not None and key in actual
            planned[key] = d.used_bytes if full else d.breakdown.sum() - d.breakdown.overhead_bytes
            if full:
                actual[key].measured_used_bytes = measured[int(key[3:])]
        else:
            planned["host"] = d.breakdown.sum() - d.breakdown.overhead_bytes
    return compare(planned, actual)


def format_comparison(rows: list[DeviceComparison]) -> list[str]:
    lines = [f"{'device':8} {'planned':>12} {'actual':>12} {'off':>8}"]
    for r in rows:
        flag = "  <-- more than 5% off" if r.is_off else ""
        lines.append(f"{r.device:8} {r.planned_bytes / 2**20:9.1f} MiB {r.actual_bytes / 2**20:9.1f} MiB "
                     f"{100 * r.off_fraction:+7.1f}%{flag}")
    return lines
