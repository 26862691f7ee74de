"""A model + a rig + serving settings -> a Plan (the dataclass `--json` prints with asdict)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from heavylift.errors import UsageError
from heavylift.hardware.rig import Rig
from heavylift.plan.memory import ContextConfig, MemoryBreakdown
from heavylift.plan.model_source import ModelSource
from heavylift.plan.placement import DevicePlan, LayerBytes, place
from heavylift.plan.speed import estimate

PLAN_QUANTS = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"]


@dataclass
class DeviceUse:
    name: str
    capacity_bytes: int
    usable_bytes: int
    used_bytes: int
    breakdown: MemoryBreakdown
    layers: str  # "0-46" etc.
    expert_layers_in_ram: str


@dataclass
class Plan:
    model: str
    architecture: str
    quant: str
    hardware: str
    ctx: int
    n_parallel: int
    kv_type: str
    weights_bytes: int
    kv_cache_bytes: int
    recurrent_state_bytes: int
    compute_bytes: int
    output_bytes: int
    overhead_bytes: int
    total_bytes: int
    file_bytes: int | None
    devices: list[DeviceUse]
    fits: bool
    n_gpu_layers: int
    n_cpu_moe: int
    tensor_split: list[int]
    decode_tps: float
    roofline_decode_tps: float
    prefill_tps: float
    ttft_s: float
    prompt_tokens: int
    bytes_per_token: int
    llama_server_args: list[str]
    vllm_args: list[str] | None
    vllm_note: str
    power_w: float
    price_usd: float | None
    suggestions: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def _ranges(layers: list[int]) -> str:
    if not layers:
        return "-"
    out, start, prev = [], layers[0], layers[0]
    for il in layers[1:] + [None]:  # type: ignore[list-item]
        if il is not None and il == prev + 1:
            prev = il
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if il is not None:
            start = prev = il
    return ",".join(out)


def make_plan(src: ModelSource, rig: Rig, cfg: ContextConfig, prompt_tokens: int | None = None,
              suggest: bool = True) -> Plan:
    arch = src.arch
    per_seq = cfg.ctx // cfg.n_parallel
    if per_seq > arch.n_ctx_train:
        raise UsageError(f"{src.label}: {per_seq:,} tokens per sequence exceeds the model's trained context "
                         f"{arch.n_ctx_train:,}; use --ctx {arch.n_ctx_train * cfg.n_parallel} or less")
    if per_seq < 1:
        raise UsageError(f"--ctx {cfg.ctx} is smaller than --parallel {cfg.n_parallel}")
    layers = LayerBytes.from_tensors(src.tensors, arch.n_layer)
    placement = place(layers, arch, cfg, rig)
    prompt = prompt_tokens or min(per_seq, 150_000)
    active = sum(t.n_elements * (arch.n_expert_used / arch.n_expert if "_exps" in t.name else 1)
                 for t in src.tensors if not t.name.startswith("token_embd") or arch.tied_embeddings)
    speed = estimate(layers, arch, cfg, rig, placement, prompt, active, quant=src.quant)
    total = MemoryBreakdown()
    for d in placement.devices:
        total = total + d.breakdown
    plan = Plan(
        model=src.label, architecture=arch.arch, quant=src.quant, hardware=rig.description, ctx=cfg.ctx,
        n_parallel=cfg.n_parallel, kv_type=cfg.kv_type, weights_bytes=total.weights_bytes,
        kv_cache_bytes=total.kv_cache_bytes, recurrent_state_bytes=total.recurrent_state_bytes,
        compute_bytes=total.compute_bytes, output_bytes=total.output_bytes, overhead_bytes=total.overhead_bytes,
        total_bytes=total.sum(), file_bytes=src.file_bytes,
        devices=[_device_use(d) for d in placement.devices], fits=placement.fits,
        n_gpu_layers=placement.n_gpu_layers, n_cpu_moe=placement.n_cpu_moe, tensor_split=placement.tensor_split,
        decode_tps=speed.decode_tps, roofline_decode_tps=speed.roofline_decode_tps, prefill_tps=speed.prefill_tps,
        ttft_s=speed.ttft_s, prompt_tokens=prompt, bytes_per_token=speed.bytes_per_token,
        llama_server_args=llama_server_args(src, cfg, placement, rig),
        vllm_args=None, vllm_note="", power_w=rig.tdp_w, price_usd=rig.price_usd,
        assumptions=[placement.margin_note, *speed.assumptions, *rig.assumptions],
        sources=[f"architecture: {arch.source}",
                 "weights: " + ("GGUF tensor table (exact)" if src.path else
                                f"per-tensor types from llama-quant.cpp rules for {src.quant} (plan/quant_rules.py)"),
                 f"RAM: {rig.ram_source}"] + [f"{g.name}: {g.source}" for g in {g.key: g for g in rig.gpus}.values()]
                + src.notes,
    )
    plan.vllm_args, plan.vllm_note = vllm_args(src, cfg, rig)
    if suggest and not rig.gpus and cfg.kv_type == "f16":  # a quantized V cache requires FA
        # On CPUs flash attention trades decode speed at depth for prefill speed (plan/speed.py):
        # show the other side so the user can choose for their workload.
        alt = make_plan(src, rig, replace(cfg, flash_attn=not cfg.flash_attn), prompt_tokens, suggest=False)
        flag = "-fa off (--no-flash-attn)" if cfg.flash_attn else "-fa on"
        plan.assumptions.append(f"CPU trade-off: with {flag} decode would be ~{alt.decode_tps:.1f} tok/s and "
                                f"prefill ~{alt.prefill_tps:.0f} tok/s")
    if suggest and not plan.fits:
        plan.suggestions = suggestions(src, rig, cfg)
    return plan


def _device_use(d: DevicePlan) -> DeviceUse:
    return DeviceUse(d.name, d.capacity_bytes, d.usable_bytes, d.used_bytes, d.breakdown, _ranges(d.layers),
                     _ranges(d.expert_layers_in_ram))


def llama_server_args(src: ModelSource, cfg: ContextConfig, placement, rig: Rig) -> list[str]:
    model = str(src.path) if src.path else f"{src.label}-{src.quant}.gguf"
    args = ["-m", model, "-c", str(cfg.ctx), "-np", str(cfg.n_parallel), "-b", str(cfg.n_batch),
            "-ub", str(cfg.n_ubatch), "-fa", "on" if cfg.flash_attn else "off"]
    if cfg.kv_type != "f16":
        args += ["-ctk", cfg.kv_type, "-ctv", cfg.kv_type]
    if rig.gpus:
        args += ["-ngl", str(placement.n_gpu_layers)]
        if placement.n_cpu_moe:
            args += ["--n-cpu-moe", str(placement.n_cpu_moe)]
        if len(rig.gpus) > 1:
            args += ["--tensor-split", ",".join(str(x) for x in placement.tensor_split)]
    else:
        args += ["-ngl", "0"]
    args += ["--fit", "off"]  # the plan is the fit: keep llama.cpp from changing it
    return args


def vllm_args(src: ModelSource, cfg: ContextConfig, rig: Rig) -> tuple[list[str] | None, str]:
    """vLLM serves the Hugging Face weights (BF16 here) entirely from GPU memory."""
    if not src.hf_repo:
        return None, "vLLM needs the Hugging Face repository (GGUF support in vLLM is experimental)"
    if not rig.gpus or rig.is_unified:
        return None, "vLLM needs NVIDIA GPUs"
    n = len(rig.gpus)
    weights = 2 * sum(t.n_elements for t in src.tensors)
    budget = 0.90 * sum(g.memory_bytes for g in rig.gpus)
    if weights > budget * 0.9:
        return None, (f"BF16 weights {weights / 2**30:.0f} GiB do not fit in 90% of {n} GPUs' memory "
                      f"({budget / 2**30:.0f} GiB); an AWQ/GPTQ checkpoint would be needed")
    tp = n if src.arch.n_head % n == 0 and (n & (n - 1)) == 0 else 1
    pp = n // tp
    args = ["vllm", "serve", src.hf_repo, "--tensor-parallel-size", str(tp), "--max-model-len",
            str(cfg.ctx // cfg.n_parallel), "--gpu-memory-utilization", "0.90", "--max-num-seqs", str(cfg.n_parallel)]
    if pp > 1:
        args += ["--pipeline-parallel-size", str(pp)]
    return args, "BF16 weights, KV in the remaining GPU memory"


def suggestions(src: ModelSource, rig: Rig, cfg: ContextConfig) -> list[str]:
    """What would fit instead, each with its numbers (never applied silently)."""
    from heavylift.plan.model_source import _predicted

    out: list[str] = []
    if cfg.kv_type == "f16":
        # A quantized V cache needs flash attention in llama.cpp, so the alternative turns it on.
        alt = replace(cfg, kv_type="q8_0", flash_attn=True)
        p = make_plan(src, rig, alt, suggest=False)
        out.append(_say("KV cache q8_0 (--kv-type q8_0)", p))
    ctx = cfg.ctx
    while ctx > 4096:
        ctx //= 2
        p = make_plan(src, rig, replace(cfg, ctx=ctx), suggest=False)
        if p.fits:
            out.append(_say(f"context {ctx:,} (--ctx {ctx})", p))
            break
    if not src.path:
        order = PLAN_QUANTS[PLAN_QUANTS.index(src.quant) + 1:] if src.quant in PLAN_QUANTS else []
        for q in order:
            p = make_plan(_predicted(src.arch, src.label, q, src.hf_repo), rig, cfg, suggest=False)
            if p.fits:
                out.append(_say(f"quantization {q} (--quant {q}, file {p.file_bytes / 1e9:.1f} GB)", p))
                break
    host = next(d for d in make_plan(src, rig, cfg, suggest=False).devices if d.name.startswith("CPU"))
    if host.used_bytes > host.usable_bytes:
        need = host.used_bytes - host.usable_bytes
        out.append(f"more RAM: the host needs {need / 2**30:.1f} GiB more than it can spare "
                   f"({host.used_bytes / 2**30:.1f} GiB used of {host.usable_bytes / 2**30:.1f} GiB usable)")
    return out


def _say(what: str, p: Plan) -> str:
    verdict = "fits" if p.fits else "still does not fit"
    return f"{what}: {verdict}, total {p.total_bytes / 2**30:.1f} GiB, decode ~{p.decode_tps:.1f} tok/s"
