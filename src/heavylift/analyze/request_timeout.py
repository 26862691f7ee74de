"""How long to wait for an answer before calling an engine stuck: sized from the planner's prediction
for this model on this machine (a 235B model on a CPU can take 20+ minutes for its first token), never
a fixed guess. The planner is the one source of speed figures (heavylift.plan.planner.make_plan)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from heavylift.engines.client import DEFAULT_TIMEOUT_S

SAFETY_FACTOR = 3.0  # the prediction is a median-ish figure; a loaded machine can be several times slower


@dataclass(frozen=True)
class Prediction:
    prefill_tps: float
    decode_tps: float
    ttft_s: float  # for prompt_tokens
    answer_s: float  # ttft_s + max_tokens at decode_tps

    @property
    def timeout_s(self) -> float:
        return max(DEFAULT_TIMEOUT_S, SAFETY_FACTOR * self.answer_s)


def predict(model_path: Path, ctx_per_slot: int, num_slots: int, prompt_tokens: int, max_tokens: int) -> Prediction | None:
    """The plan's prefill/decode speed and time to answer for this model on the local machine, or None
    when it cannot be planned (an unknown architecture, say): callers fall back to the default."""
    try:
        from heavylift.hardware.spec import parse_hw
        from heavylift.plan.memory import ContextConfig
        from heavylift.plan.model_source import resolve
        from heavylift.plan.planner import make_plan

        src = resolve(str(model_path), None)
        per_slot = min(ctx_per_slot, src.arch.n_ctx_train)
        plan = make_plan(src, parse_hw("local"), ContextConfig(per_slot * num_slots, num_slots),
                         max(1, min(prompt_tokens, per_slot)), suggest=False)
    except Exception:  # any planning failure only costs us the prediction, never the job
        return None
    if not plan.prefill_tps or not plan.decode_tps:
        return None
    return Prediction(plan.prefill_tps, plan.decode_tps, plan.ttft_s,
                      plan.ttft_s + max_tokens / plan.decode_tps)


def describe_timeout(timeout_s: float, given: bool, prediction: Prediction | None) -> str:
    if given:
        return f"timeout {timeout_s:g} s (--timeout)"
    if prediction is None:
        return f"timeout {timeout_s:.0f} s (default; no prediction for this model here; --timeout to change)"
    return (f"timeout {timeout_s:.0f} s (the larger of {DEFAULT_TIMEOUT_S:.0f} s and {SAFETY_FACTOR:.0f}x the plan's "
            f"predicted {prediction.answer_s:.0f} s per answer; --timeout to change)")
