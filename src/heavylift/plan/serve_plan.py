"""`heavylift serve --plan`: the plan's engine settings, and the plan set beside what the engine
actually allocated."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from heavylift.engines.llama_args import LlamaArgs
from heavylift.errors import UsageError
from heavylift.plan.actual import DeviceComparison, compare, nvidia_used_bytes, parse_load_log
from heavylift.plan.planner import Plan

NO_GPU_BACKEND = ("this build has no GPU backend: everything will be allocated on the CPU "
                  "(the comparison below is with the plan for the CPU alone)")


@dataclass
class ServePlan:
    plan: Plan  # what `heavylift plan` says for --hw
    expected: Plan  # what this engine build will allocate: the plan, or on a build without a GPU backend the CPU-only plan
    note: str | None = None  # said before the engine starts

    @property
    def settings(self) -> LlamaArgs:
        """Engine settings that realise the plan, with `-lv 4` so the log reports every buffer."""
        return replace(LlamaArgs.from_plan(self.expected), log_verbosity=4)


def plan_for_serve(model: str, ctx: int, n_parallel: int, hw: str, backend: str | None = None,
                   kv_type: str | None = None, flash_attn: bool | None = None) -> ServePlan:
    """backend: the engine build's (manifest) backend; default: the current build's. kv_type /
    flash_attn: serve's own settings (None: the plan's defaults)."""
    from heavylift.hardware.spec import parse_hw
    from heavylift.plan.memory import ContextConfig
    from heavylift.plan.model_source import resolve
    from heavylift.plan.planner import make_plan

    src, rig, cfg = resolve(model, None), parse_hw(hw), ContextConfig(
        ctx, n_parallel, **{k: v for k, v in (("kv_type", kv_type), ("flash_attn", flash_attn)) if v is not None})
    plan = make_plan(src, rig, cfg)
    if not plan.fits:
        hint = plan.suggestions[0] if plan.suggestions else "see `heavylift plan`"
        raise UsageError(f"the plan for {model} at --ctx {ctx} does not fit on {plan.hardware}; try: {hint}")
    if backend is None:
        from heavylift.setup.engine_build import current_engine

        backend = current_engine().backend
    if plan.placement.gpus and backend == "cpu":
        # llama.cpp without a GPU backend ignores -ngl / --tensor-split: every buffer is host memory.
        return ServePlan(plan, make_plan(src, replace(rig, gpus=[]), cfg, suggest=False), NO_GPU_BACKEND)
    return ServePlan(plan, plan)


def planned_vs_actual(plan: Plan, log_path: Path) -> list[DeviceComparison]:
    """Per device: the plan's llama.cpp buffers (engine overhead excluded: it is no buffer) vs the
    buffers the log reports; with nvidia-smi, the GPUs' measured memory.used vs the whole plan."""
    measured = nvidia_used_bytes()
    actual = parse_load_log(log_path.read_text(errors="replace"))
    planned: dict[str, int] = {}
    for i, d in enumerate(plan.placement.gpus):
        key = f"gpu{i}"
        full = measured is not None and key in actual
        planned[key] = d.used_bytes if full else d.used_bytes - d.breakdown.overhead_bytes
        if full:
            actual[key].measured_used_bytes = measured[i]
    host = plan.placement.host.breakdown
    planned["host"] = host.sum() - host.overhead_bytes
    return compare(planned, actual)


def format_comparison(rows: list[DeviceComparison]) -> list[str]:
    lines = [f"{'device':8} {'planned':>12} {'actual':>12} {'off':>8}"]
    for r in rows:
        flag = "  <-- more than 5% off" if r.is_off else ""
        lines.append(f"{r.device:8} {r.planned_bytes / 2**20:9.1f} MiB {r.actual_bytes / 2**20:9.1f} MiB "
                     f"{100 * r.off_fraction:+7.1f}%{flag}")
    return lines
