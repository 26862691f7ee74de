"""The ONE place bench asks the planner what it expects: `predicted(...)`.

Bench derives no speed of its own. Every predicted figure and every physical limit below comes
from `heavylift.plan` (make_plan / its speed estimate) for the configuration measured; this module
only chooses which plan answers which question:
- decode of N tokens after D cached + P prompt tokens: the plan's decode at a context of the mean
  depth during decode, D + P + N/2 (the planner decodes "at a full context");
- prefill of P tokens after D cached: the time the plan gives for D + P tokens minus the time for D;
- limits: the plan's bandwidth roofline (bytes read per token over the rig's bandwidth) and its
  FLOPs per token over the rig's peak compute.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from heavylift.errors import HeavyliftError
from heavylift.hardware.rig import Rig
from heavylift.plan.memory import KV_TYPES, ContextConfig
from heavylift.plan.model_source import ModelSource, resolve
from heavylift.plan.placement import LayerBytes, place
from heavylift.plan.planner import Plan, make_plan
from heavylift.plan.speed import estimate


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


def context_config(engine_args: list[str], ctx: int, n_parallel: int = 1) -> ContextConfig:
    """The serving settings the engine's flags imply (llama-server's defaults otherwise)."""
    cfg = ContextConfig(ctx, n_parallel)
    flags = _flag_values(engine_args)
    kv = flags.get("-ctk") or flags.get("--cache-type-k")
    fa = flags.get("-fa") or flags.get("--flash-attn")
    return replace(cfg, n_batch=int(flags.get("-b") or flags.get("--batch-size") or cfg.n_batch),
                   n_ubatch=int(flags.get("-ub") or flags.get("--ubatch-size") or cfg.n_ubatch),
                   kv_type=kv if kv in KV_TYPES else cfg.kv_type,
                   flash_attn=cfg.flash_attn if fa in (None, "auto") else fa in ("on", "1", "true"))


def predicted(model_path: str, rig: Rig, cfg: ContextConfig, prompt_tokens: int, depth_tokens: int,
              n_concurrent: int, engine_args: list[str], gen_tokens: int = 128) -> Prediction:
    """The planner's expectation for one bench configuration (None where it has no answer)."""
    try:
        src = _source(model_path)
        cfg = replace(cfg, n_parallel=1, ctx=max(1, depth_tokens + prompt_tokens + gen_tokens // 2))
        at_decode = make_plan(src, rig, cfg, prompt_tokens=1, suggest=False)

        def prefill_s(n: int) -> float:
            if n == 0:
                return 0.0
            return n / make_plan(src, rig, replace(cfg, ctx=n), prompt_tokens=n, suggest=False).prefill_tps

        prefill = prompt_tokens / (prefill_s(depth_tokens + prompt_tokens) - prefill_s(depth_tokens))
        flops = _flops_per_token(src, rig, replace(cfg, ctx=depth_tokens + prompt_tokens), depth_tokens, prompt_tokens)
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
        roofline_decode_tps=at_decode.roofline_decode_tps or None,
        roofline_prefill_tps=peak / flops if peak and flops else None,
        bytes_per_token=at_decode.bytes_per_token, flops_per_token=flops, note=note)


def plan_for(model_path: str, rig: Rig, cfg: ContextConfig) -> Plan:
    return make_plan(_source(model_path), rig, cfg, suggest=False)


@lru_cache(maxsize=8)
def _source(model_path: str) -> ModelSource:
    return resolve(model_path, None)


def _flops_per_token(src: ModelSource, rig: Rig, cfg: ContextConfig, depth: int, prompt: int) -> float:
    """Mean FLOPs per prompt token for `prompt` tokens after `depth`, from the planner's speed
    estimate (plan/speed.py: 2 x active weights + attention over the cached tokens).
    TODO(bench): read plan.speed.flops_per_token once the planner's Plan carries its SpeedEstimate."""
    arch = src.arch
    layers = LayerBytes.from_tensors(src.tensors, arch.n_layer)
    placement = place(layers, arch, cfg, rig)
    active = sum(t.n_elements * (arch.n_expert_used / arch.n_expert if "_exps" in t.name else 1)
                 for t in src.tensors if not t.name.startswith("token_embd") or arch.tied_embeddings)

    def total(n: int) -> float:  # the estimate's flops_per_token is the mean over an n-token prompt
        return estimate(layers, arch, cfg, rig, placement, n, active).flops_per_token * n if n else 0.0

    return (total(depth + prompt) - total(depth)) / prompt


def _peak_flops(rig: Rig) -> float | None:
    """Peak compute the prefill runs on: the first GPU's FP16 tensor peak (layers run one GPU at a
    time), else the host CPU's FP32 peak."""
    if rig.gpus:
        return rig.gpus[0].fp16_flops or None
    return rig.cpu_flops or None


def _flag_values(args: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, a in enumerate(args):
        if a.startswith("-") and i + 1 < len(args) and not args[i + 1].startswith("-"):
            out[a] = args[i + 1]
    return out

