"""Where the local side's speeds and power come from: given on the command line, a stored bench run
(`--from-bench RUN`, with the power it measured), or the planner (`--plan MODEL --hw ...`, with the
rig's TDP as an estimate). Each says where every figure came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from heavylift.cost.model import Workload, plan_split
from heavylift.errors import UsageError


@dataclass
class Speeds:
    prefill_tps: float
    decode_tps: float
    context_tokens: int | None
    power_w: float | None
    idle_power_w: float | None
    hardware_usd: float | None
    label: str
    notes: list[str] = field(default_factory=list)  # where each figure came from


def given(prefill_tps: float, decode_tps: float, ctx: int | None) -> Speeds:
    return Speeds(prefill_tps, decode_tps, ctx, None, None, None, "given speeds",
                  [f"speeds given: prefill {prefill_tps:,.1f} tok/s, decode {decode_tps:,.1f} tok/s"]
                  + ([f"context {ctx:,} tokens (--ctx)"] if ctx else ["context not given (--ctx): not checked"]))


def from_bench(ref: str, w: Workload) -> Speeds:
    """The run's single-request configuration nearest the workload: prefill from the longest prompt
    up to the input size, decode from the one whose decode depth (depth + prompt) is nearest it."""
    from heavylift.bench.store import BenchStore

    run = BenchStore().get(ref)
    singles = [r for r in run.results if r.concurrency == 1 and r.prefill_tps and r.decode_tps]
    if not singles:
        raise UsageError(f"bench run {run.id} has no measured single-request configuration to take speeds from")
    pp = min(singles, key=lambda r: (abs(r.prompt_tokens - w.input_tokens), -r.prompt_tokens))
    tg = min(singles, key=lambda r: abs(r.depth + r.prompt_tokens - w.input_tokens))
    notes = [f"prefill {pp.prefill_tps:,.1f} tok/s measured in bench run {run.id} ({pp.label}, client clock)",
             f"decode {tg.decode_tps:,.1f} tok/s measured in bench run {run.id} ({tg.label}: decode after "
             f"{tg.depth + tg.prompt_tokens:,} tokens)"]
    far = max(pp.prompt_tokens, tg.depth + tg.prompt_tokens)
    if far < w.input_tokens / 2:
        notes.append(f"the run measured at most {far:,} tokens of context, the workload needs {w.input_tokens:,}: "
                     "real speeds at that depth will be lower (bench it with --prompt-lengths / --depths)")
    ctx = None
    if run.engine == "llama-server" and run.target:
        try:
            from heavylift.plan.model_source import resolve

            ctx = resolve(run.target, None).arch.n_ctx_train
            notes.append(f"context {ctx:,} tokens: {run.model}'s trained context")
        except Exception:  # noqa: BLE001 - the model may be gone since; the check is then skipped
            notes.append("the run's model file is not available: context not checked")
    busy, idle = run.power_busy, run.power_idle
    power = busy.mean_w if busy and busy.mean_w else None
    idle_w = idle.mean_w if idle and idle.mean_w else None
    if power:
        notes.append(f"power {power:,.0f} W measured during bench run {run.id} ({', '.join(busy.sources)}; "
                     "what those counters see, not the wall)")
    if idle_w:
        notes.append(f"idle power {idle_w:,.0f} W measured before bench run {run.id}'s requests")
    if not power:
        notes.append(f"bench run {run.id} recorded no power (" + (busy.note if busy else "no counter") + ")")
        if run.engine == "llama-server":  # it ran here: this machine's TDP sum stands in, as an estimate
            from heavylift.hardware.spec import detect_local

            rig = detect_local()
            power = rig.tdp_w
            notes.append(f"power {power:,.0f} W: this machine's TDP sum (GPUs' TDP + {rig.host_tdp_w:.0f} W assumed for "
                         "CPU, board and RAM under load; hardware/rig.py), an estimate: x busy hours = TDP x utilisation")
    return Speeds(pp.prefill_tps, tg.decode_tps, ctx, power, idle_w, None,
                  f"bench run {run.id}: {run.model} {run.quant or ''} on {run.engine} {run.engine_backend or ''}".strip(),
                  notes)


def from_plan(model: str, hw: str, quant: str | None, ctx: int | None, kv_type: str, w: Workload) -> Speeds:
    """The planner's speeds for this workload's prompt on the rig; refused when the plan does not fit."""
    from heavylift.hardware.spec import parse_hw
    from heavylift.plan.memory import ContextConfig
    from heavylift.plan.model_source import resolve
    from heavylift.plan.planner import make_plan

    src = resolve(model, quant)
    rig = parse_hw(hw)
    trained = src.arch.n_ctx_train
    need = w.input_tokens + w.output_tokens
    if ctx is None:
        ctx = min(trained, 256 * -(-need // 256))  # what the workload needs, padded like llama.cpp, at most the model's
    elif ctx > trained:
        raise UsageError(f"--ctx {ctx:,} exceeds {src.label}'s trained context of {trained:,} tokens")
    split = plan_split(w, ctx)
    prompt = split.chunk_tokens if split else w.input_tokens
    if split and split.chunks == 0:
        raise UsageError(f"--ctx {ctx:,} leaves no room for input after {w.output_tokens:,} output tokens")
    plan = make_plan(src, rig, ContextConfig(ctx, 1, kv_type), prompt_tokens=prompt)
    if not plan.fits:
        hint = plan.suggestions[0] if plan.suggestions else "see `heavylift plan`"
        raise UsageError(f"the plan for {src.label} {plan.quant} at context {ctx:,} does not fit on {plan.hardware}; "
                         f"no cost from the speeds of a plan that cannot run (what would fit: {hint})")
    notes = [f"speeds from `heavylift plan {model} --hw \"{hw}\" --quant {plan.quant} --ctx {ctx}`: prefill "
             f"{plan.prefill_tps:,.1f} tok/s for a {prompt:,}-token prompt, decode {plan.decode_tps:,.1f} tok/s at "
             f"a full {ctx:,}-token context (the planner's, not measured)",
             f"power {plan.power_w:,.0f} W: the rig's TDP sum, an estimate (not measured; planner)"]
    if plan.price_usd:
        notes.append(f"hardware ${plan.price_usd:,.0f}: the GPUs' list price only (hardware catalog); "
                     "give --hardware-cost for the whole machine")
    return Speeds(plan.prefill_tps, plan.decode_tps, ctx, plan.power_w, None, plan.price_usd,
                  f"{src.label} {plan.quant} on {plan.hardware} (planned)", notes)
