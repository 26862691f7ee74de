"""The ONE place bench asks the planner what it expects: `predicted(...)`.

Bench derives no speed of its own. Every predicted figure and every physical limit below comes
from `heavylift.plan` (make_plan / its speed estimate) for the configuration measured; this module
only chooses which plan answers which question:
- decode of N tokens after D cached + P prompt tokens: the plan's decode with the mean depth
  during decode, D + P + N/2, in the cache (make_plan's depth_tokens);
- prefill of P tokens after D cached: the time the plan gives for D + P tokens minus the time for D;
- limits: the plan's bandwidth roofline (bytes read per token over the rig's bandwidth) and its
  FLOPs per token over the rig's peak compute.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from heavylift.errors import HeavyliftError
from heavylift.hardware.rig import Rig
from heavylift.plan.memory import ContextConfig
from heavylift.plan.model_source import ModelSource, resolve
from heavylift.plan.placement_flags import PlacementFlags
from heavylift.plan.planner import Plan, make_plan
from heavylift.plan.server_flags import PlanRequest, merge_flags


@dataclass
class Prediction:
    prefill_tps: float | None
    decode_tps: float | None  # one request's decode rate
    decode_tps_aggregate: float | None  # all concurrent requests together
    ttft_s: float | None
    roofline_decode_tps: float | None  # bandwidth / bytes read per token (one sequence)
    roofline_prefill_tps: float | None  # peak compute / FLOPs per prompt token
    bytes_per_token: int | None
    flops_per_token: float | None
    note: str = ""

    @classmethod
    def unknown(cls, note: str) -> Prediction:
        return cls(None, None, None, None, None, None, None, None, note)


def engine_settings(engine_args: list[str]) -> tuple[dict, PlacementFlags]:
    """ContextConfig settings and placement flags the engine's command line implies (the planner's
    own parser of llama-server flags, plan/server_flags.py)."""
    req = merge_flags(PlanRequest([]), [a for a in engine_args if a])
    return req.settings, req.flags


def context_config(engine_args: list[str], ctx: int, n_parallel: int = 1) -> ContextConfig:
    """The serving settings the engine's flags imply (llama-server's defaults otherwise)."""
    settings, _ = engine_settings(engine_args)
    return ContextConfig(ctx, n_parallel, **settings)


def predicted(model_path: str, rig: Rig, cfg: ContextConfig, prompt_tokens: int, depth_tokens: int,
              n_concurrent: int, engine_args: list[str], gen_tokens: int = 128) -> Prediction:
    """The planner's expectation for one bench configuration (None where it has no answer)."""
    try:
        src = _source(model_path)
        _, flags = engine_settings(engine_args)
        cfg = replace(cfg, n_parallel=1, ctx=depth_tokens + prompt_tokens + gen_tokens)

        def plan(prompt: int, depth: int) -> Plan:
            return make_plan(src, rig, cfg, prompt_tokens=max(1, prompt), depth_tokens=depth, flags=flags,
                             suggest=False)

        at_decode = plan(prompt_tokens, depth_tokens + prompt_tokens + gen_tokens // 2)
        # The planner's prefill is for a prompt from an empty cache: P tokens after D take the time of
        # D + P tokens minus the time of D, and their FLOPs likewise.
        full, head = plan(depth_tokens + prompt_tokens, 0), plan(depth_tokens, 0) if depth_tokens else None
        seconds = (depth_tokens + prompt_tokens) / full.prefill_tps - (depth_tokens / head.prefill_tps if head else 0.0)
        prefill = prompt_tokens / seconds
        flops = (full.speed.flops_per_token * (depth_tokens + prompt_tokens)
                 - (head.speed.flops_per_token * depth_tokens if head else 0.0)) / prompt_tokens
    except HeavyliftError as e:
        return Prediction.unknown(f"no prediction: {e}")
    peak = _peak_flops(rig)
    note = "" if n_concurrent == 1 else ("the planner predicts one sequence only (no concurrency model yet): "
                                         "per-request and aggregate decode at this concurrency unknown")
    one = n_concurrent == 1
    return Prediction(
        prefill_tps=prefill if one else None,
        decode_tps=at_decode.decode_tps if one else None,
        decode_tps_aggregate=at_decode.decode_tps if one else None,
        ttft_s=prompt_tokens / prefill + 1 / at_decode.decode_tps if one and at_decode.decode_tps else None,
        roofline_decode_tps=at_decode.speed.roofline_decode_tps or None,
        roofline_prefill_tps=peak / flops if peak and flops else None,
        bytes_per_token=at_decode.speed.bytes_per_token, flops_per_token=flops, note=note)


@lru_cache(maxsize=8)
def _source(model_path: str) -> ModelSource:
    return resolve(model_path, None)


def _peak_flops(rig: Rig) -> float | None:
    """Peak compute the prefill runs on: the first GPU's FP16 tensor peak (layers run one GPU at a
    time), else the host CPU's FP32 peak."""
    if rig.gpus:
        return rig.gpus[0].fp16_flops or None
    return rig.cpu_flops or None
