"""The ONE place bench asks the planner what it expects: `predicted(...)`.

Bench derives no speed of its own. Every predicted figure and every physical limit below comes
from `heavylift.plan` (make_plan / its speed estimate) for the configuration measured; this module
only chooses which plan answers which question:
- decode of N tokens after D cached + P prompt tokens, c requests at once: the plan's decode of c
  sequences with the mean depth during decode, D + P + N/2, in the cache (make_plan's depth_tokens,
  n_concurrent);
- prefill of P tokens after D cached: the plan's prefill starting at depth D;
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
        b = max(1, n_concurrent)
        cfg = replace(cfg, n_parallel=b, ctx=(depth_tokens + prompt_tokens + gen_tokens) * b)

        def plan(depth: int, concurrent: int) -> Plan:
            return make_plan(src, rig, cfg, prompt_tokens=max(1, prompt_tokens), depth_tokens=depth,
                             n_concurrent=concurrent, flags=flags, suggest=False)

        # prefill: P prompt tokens after D cached (the speed model's prefill starts at depth_tokens);
        # decode: b sequences together at the mean depth during generation, D + P + N/2.
        at_prefill = plan(depth_tokens, 1)
        at_decode = plan(depth_tokens + prompt_tokens + gen_tokens // 2, b)
    except HeavyliftError as e:
        return Prediction.unknown(f"no prediction: {e}")
    s_pre, s_dec = at_prefill.speed, at_decode.speed
    peak = _peak_flops(rig)
    flops = s_pre.flops_per_token
    note = "" if b == 1 else (f"{b} requests decode together (the speed model's batched step); their prompts are "
                              "predicted one at a time")
    return Prediction(
        prefill_tps=s_pre.prefill_tps,
        decode_tps=s_dec.decode_tps,
        decode_tps_aggregate=s_dec.decode_tps_total,
        ttft_s=s_pre.ttft_s,
        roofline_decode_tps=s_dec.roofline_decode_tps or None,
        roofline_prefill_tps=peak / flops if peak and flops else None,
        bytes_per_token=s_dec.bytes_per_token, flops_per_token=flops, note=note)


@lru_cache(maxsize=8)
def _source(model_path: str) -> ModelSource:
    return resolve(model_path, None)


def _peak_flops(rig: Rig) -> float | None:
    """Peak compute the prefill runs on: the first GPU's FP16 tensor peak (layers run one GPU at a
    time), else the host CPU's FP32 peak."""
    if rig.gpus:
        return rig.gpus[0].fp16_flops or None
    return rig.cpu_flops or None
