"""Decode and prefill speed: what a token costs (plan/speed_work.py) over what each device does per
second, with the model's fitted constants (plan/speed_params.py). docs/speed.md has the derivation.

Decode, one step of B sequences (B = n_concurrent) at `depth` cached tokens each. Layers run one
after another (llama.cpp's layer split), so the devices' times add:
  GPU:  max(weights / (peak BW x bw_eff x quant factor x HBM factor), B x FLOPs / (FP16 peak x mm_eff))
        + KV / (peak BW x kv_eff) + layers x layer_s + MoE layers x moe_layer_s
        + recurrent layers x recurrent_layer_s
  host: dense weights and KV at min(RAM bandwidth x bw_eff (NUMA: one socket plus numa_gain per
        extra socket), cores x per-core rate), experts read from RAM at expert_eff of that (mul_mat_id
        gathers slices; the cores run the same kernels) plus moe_layer_s per MoE layer (router ops),
        + layers x layer_s on GPU rigs; flash attention over the cache: max(KV / RAM, attention FLOPs
        / (threads x fa_flops_per_core)), threads = cores for an F16 cache, else min(cores, n_head)
  + hops x hop_s (GPU -> CPU -> GPU per layer whose experts stay in RAM, one per device boundary)
  + token_s (per token on GPU rigs: launch, sync, sampling).
Prefill, per ubatch of u tokens starting at cached position s:
  matmul FLOPs (2 per weight element and token) / (FP16 peak x eff x u/(u + half_tokens)), the
  experts' mul_mat_id at moe_mm_eff x t/(t + moe_half_tokens) with t = u x k / n_expert tokens per
  expert, or the read of the touched experts if slower, attention FLOPs (the cached tokens grow
  through the prompt) at attn_eff (attn_tile_eff on RDNA's tile FA kernel), and layers x ubatch_layer_s.
  Weights in host memory are used by the GPU when a ubatch has >= 32 tokens (llama.cpp's op
  offload: ggml-backend.cpp ggml_backend_sched_backend_id_from_cur asks the GPU backend's
  offload_op, which in ggml-cuda.cu ggml_backend_cuda_device_offload_op is
  get_op_batch_size(op) >= GGML_OP_OFFLOAD_MIN_BATCH, default 32; Vulkan and Metal the same):
  they cross the host link once per ubatch; below 32 tokens the CPU computes them. Several GPUs
  with every layer offloaded overlap ubatches (pipeline parallelism, llama-context.cpp).
CPU-only prefill: FLOPs / (cores x prefill rate), attention at attn_nofa_eff without flash attention,
at attn_fa_eff (tiled kernel, F16 cache) or attn_fa_vec_eff (row kernel, quantized cache) with it,
experts at t/(t + moe_half_tokens) / (u/(u + moe_half_tokens)) of the matmul rate with t = u x k / n tokens
per expert.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heavylift.hardware.rig import Rig
from heavylift.plan.memory import ContextConfig
from heavylift.plan.placement import LayerBytes, Placement
from heavylift.plan.speed_decode import (
    Geometry,
    Layout,
    compute_cores,
    cpu_fa_f16_kernels,
    cuda_kv_reads,
    decode_step,
    geometry,
    host_rates,
)
from heavylift.plan.speed_params import SpeedParams
from heavylift.plan.speed_prefill import MIN_OFFLOAD_BATCH, prefill_seconds, tensor_rate

__all__ = ["SpeedEstimate", "estimate", "Geometry", "geometry", "decode_step", "prefill_seconds", "MIN_OFFLOAD_BATCH"]


@dataclass
class SpeedEstimate:
    decode_tps: float  # one sequence's tokens/s at depth_tokens (while n_concurrent decode together)
    decode_tps_depth0: float  # the same with an empty cache
    decode_tps_total: float  # all n_concurrent sequences together
    prefill_tps: float  # prompt_tokens after prompt_start_tokens already cached
    ttft_s: float  # prefill of the prompt + the first decoded token
    roofline_decode_tps: float  # bytes per token over the devices' peak bandwidths, nothing else
    roofline_prefill_tps: float  # FLOPs per token over the devices' peak compute, nothing else
    bytes_per_token: int  # read per decode step of one sequence at depth_tokens
    flops_per_token: float  # 2 x active weights + attention at the middle of the prompt
    prompt_tokens: int
    depth_tokens: int
    n_concurrent: int = 1
    prompt_start_tokens: int = 0  # tokens already cached before the prompt (prefill and TTFT start there)
    params: str = ""  # which constants: the public fit, or a calibrated profile
    assumptions: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def estimate(layers: LayerBytes, arch, cfg: ContextConfig, rig: Rig, placement: Placement, prompt_tokens: int,
             active_params: float, *, depth_tokens: int | None = None, n_concurrent: int = 1,
             params: SpeedParams | None = None, quant: str | None = None,
             prompt_start: int | None = None) -> SpeedEstimate:
    """Speed of this placement. depth_tokens None = decode at a full context (ctx per sequence);
    prompt_start: tokens cached before the prompt (None: depth_tokens when given, as llama-bench's
    `-p P -d D`, else 0); quant: the file type (Q4_K_M, F16, ...), whose kernels set the quant-family
    factors."""
    p = params or rig.speed_params or SpeedParams.fitted()
    geo = geometry(layers, arch, cfg, rig, placement, quant)
    w = geo.work
    full = cfg.ctx if cfg.kv_unified else cfg.ctx // cfg.n_parallel
    depth = full if depth_tokens is None else max(0, depth_tokens)
    b = max(1, n_concurrent)
    step = decode_step(geo, rig, p, cfg, depth, b)
    step0 = decode_step(geo, rig, p, cfg, 0, b)
    one = decode_step(geo, rig, p, cfg, depth, 1)
    start = max(0, prompt_start) if prompt_start is not None else (0 if depth_tokens is None else depth)
    pre_s, roof_pre_s = prefill_seconds(geo, rig, p, cfg, start, max(1, prompt_tokens))
    first = decode_step(geo, rig, p, cfg, start + prompt_tokens, 1)  # the first token after the prompt
    flops_tok = 2 * active_params + sum(w.attn_flops[il] * w.kv_tokens(il, start + prompt_tokens // 2)
                                        for il in range(arch.n_layer))
    est = SpeedEstimate(
        decode_tps=1.0 / step.time_s, decode_tps_depth0=1.0 / step0.time_s, decode_tps_total=b / step.time_s,
        prefill_tps=prompt_tokens / pre_s, ttft_s=pre_s + first.time_s,
        roofline_decode_tps=1.0 / one.roof_s if one.roof_s else 0.0,
        roofline_prefill_tps=prompt_tokens / roof_pre_s if roof_pre_s else 0.0,
        bytes_per_token=int(one.bytes), flops_per_token=flops_tok, prompt_tokens=prompt_tokens, depth_tokens=depth,
        n_concurrent=b, prompt_start_tokens=start, params=p.label)
    est.assumptions, est.sources = _explain(p, rig, geo.layout, cfg, depth, depth_tokens is None, b)
    est.assumptions += _kv_reads_note(w, rig, p, cfg, geo.layout, step, depth, b)
    return est


def _kv_reads_note(w, rig: Rig, p: SpeedParams, cfg: ContextConfig, lay: Layout, step, depth: int,
                   b: int) -> list[str]:
    """Say so when attention's arithmetic outweighs reading the cache on a GPU (MLA on Metal), and when
    CUDA's vector flash-attention kernel reads the cache once per query head
    (speed_decode.cuda_kv_reads): a q8_0 cache on an Ampere card can cost more than an F16 one.
    `step`: the decode step at `depth` (its per-GPU cache and arithmetic seconds)."""
    if not cfg.flash_attn or not depth:
        return []
    miss = p.backend("cuda").vec_kv_miss
    out = []
    for g, spec in enumerate(rig.gpus):
        attn_s, kv_s = step.gpu_attn_s[g], step.gpu_kv_s[g]
        if attn_s > kv_s and attn_s > 1e-3:
            out.append(f"GPU {g} ({spec.name}): attention's arithmetic over the cache, {attn_s * 1e3:.1f} ms per step "
                       f"at {p.backend(spec.backend).dec_attn_eff:.1%} of its FP16 peak, outweighs reading it "
                       f"({kv_s * 1e3:.1f} ms): {w.n_head} query heads per layer each go over the cache "
                       "(docs/speed.md, dec_attn_eff)")
        if spec.backend != "cuda":
            continue
        reads = [(cuda_kv_reads(w, il, spec, w.kv_tokens(il, depth), b, miss, cfg.kv_unified), w.gqa(il))
                 for il in range(len(w.kv_row_bytes)) if lay.layer[il] == g and w.kv_row_bytes[il]]
        worst = max(reads, default=(1.0, 0))
        if worst[0] > 1.0:
            out.append(f"GPU {g} ({spec.name}, {spec.l2_bytes / 1024**2:g} MB L2): CUDA flash attention decodes the "
                       f"{cfg.kv_type} cache with its vector kernel, which reads each KV head's cache once per query "
                       f"head ({worst[1]} per group), and {miss:.0%} of the repeats miss the small L2: the cache costs "
                       f"{worst[0]:.1f}x its bytes per token (ggml-cuda/fattn.cu; docs/speed.md \"KV reads on CUDA\")"
                       + ("; an F16 cache is read once here (the matrix-core kernel)" if w.kv_quantized and
                          (spec.cuda_cc or 0) < 8.9 else ""))
    return out


def _explain(p: SpeedParams, rig: Rig, lay: Layout, cfg: ContextConfig, depth: int, full: bool,
             b: int) -> tuple[list[str], list[str]]:
    out = [f"decode at {'a full context of ' if full else ''}{depth:,} cached tokens"
           + (f", {b} sequences decoding together" if b > 1 else ", one sequence")]
    sources = [f"speed constants: {p.label}"]
    for backend in sorted({g.backend for g in rig.gpus}):
        bp = p.backend(backend)
        out.append(f"{backend}: decode reads weights at {bp.bw_eff:.0%} and the KV cache at {bp.kv_eff:.0%} of peak "
                   f"bandwidth, plus {bp.token_s * 1e3:.2f} ms per token, {bp.layer_s * 1e6:.0f} us per layer, "
                   f"{bp.moe_layer_s * 1e6:.0f} us per MoE layer, {bp.hop_s * 1e6:.0f} us per device hop; prefill "
                   f"matmuls at {bp.mm_eff:.0%} (experts {bp.moe_mm_eff:.0%}) of a tensor rate that grows as the "
                   f"FP16 peak to the power {bp.size_exp:.2f} ("
                   + ", ".join(f"{g.name} {tensor_rate(g.kernel_flops, bp) / 1e12:.0f} of {g.kernel_flops / 1e12:.0f} "
                               "TFLOPS" for g in {g.key: g for g in rig.gpus if g.backend == backend}.values())
                   + ") at saturation, "
                   f"half of that at {bp.half_tokens:.0f} tokens per matmul ({bp.moe_half_tokens:.0f} per expert); "
                   f"attention at {bp.attn_eff:.0%}")
        hopper = [g.name for g in rig.gpus if g.backend == backend and g.mma_share < 1.0]
        if hopper:
            out.append(f"{', '.join(sorted(set(hopper)))}: quantized matmuls and attention at "
                       f"{min(g.mma_share for g in rig.gpus if g.name in hopper):.0%} of the datasheet FP16 peak "
                       "(llama.cpp's mma.sync kernels; the datasheet rate needs wgmma), F16 weights (cuBLAS) at all of it")
        sources += [f"{backend}.{k}: {p.source(backend + '.' + k)}" for k in ("bw_eff", "token_s", "mm_eff")]
    if lay.host in lay.layer or lay.host in lay.experts or not rig.gpus:
        c = p.cpu
        ram, core = host_rates(rig, c)
        numa = f", {rig.sockets} sockets (NUMA: +{c.numa_gain:.0%} per extra socket)" if rig.sockets > 1 else ""
        bw = "measured" if rig.ram_bandwidth_measured else f"{c.bw_eff:.0%} of peak"
        n_eq = compute_cores(rig, c)
        big, little = rig.threads()
        equiv = f" (= {n_eq:.1f} x86 big cores)" if abs(n_eq - (big + little)) > 1e-9 else ""
        out.append(f"CPU: weights in RAM at min(RAM {ram / 1e9:.0f} GB/s ({bw}{numa}), {big + little} threads "
                   f"{rig.cpu_simd.upper()}{equiv} x {c.decode_bps_per_core / 1e9:.1f} GB/s = {core / 1e9:.0f} GB/s), experts "
                   f"read from RAM at {c.expert_eff:.0%} of that plus {c.moe_layer_s * 1e6:.0f} us per MoE layer, "
                   f"in prefill at half the matmul rate with {c.moe_half_tokens:.0f} tokens per expert, "
                   + (f"flash attention over the KV cache at {c.fa_flops_per_core / 1e9:.1f} GFLOP/s per thread ("
                      + ("all cores: F16 cache" if cpu_fa_f16_kernels(cfg) else
                         f"one query head per thread: {cfg.kv_type} cache") + ")"
                      if cfg.flash_attn else f"KV cache {c.kv_bps_per_core / 1e9:.2f} GB/s per core (flash attention off)")
                   + "; prefill "
                   f"{c.prefill_flops_per_core / 1e9:.0f} GFLOP/s per core")
        sources += [f"cpu.{k}: {p.source('cpu.' + k)}" for k in ("bw_eff", "decode_bps_per_core", "prefill_flops_per_core")]
        over = (f" (-t {rig.n_threads} is more threads than the {rig.cpu_cores} cores: one per core counted)"
                if rig.n_threads is not None and rig.n_threads > (rig.cpu_cores or 1) else "")
        if rig.little_cores:
            how = (f"-t {rig.n_threads}: {big} big + {little} efficiency cores{over}" if rig.n_threads is not None else
                   f"llama.cpp's default -t: {big} big + {little} efficiency cores"
                   + (" (on x86 it leaves the E-cores out: common.cpp common_cpu_get_num_math)" if not little else ""))
            out.append(f"CPU: {rig.little_cores} of the {rig.cpu_cores} cores are efficiency cores, each counted as "
                       f"{c.little_core_share:.0%} of a big core; {how}")
            sources.append(f"cpu.little_core_share: {p.source('cpu.little_core_share')}")
        elif rig.n_threads is not None:
            out.append(f"CPU: -t {rig.n_threads} of {rig.cpu_cores} cores{over}")
        if rig.cpu_simd == "neon" and not rig.is_unified:
            out.append(f"CPU: Arm cores (NEON) at {c.neon_decode_scale:.0%} (decode) and {c.neon_prefill_scale:.0%} "
                       "(prefill) of the per-core rates above, which describe x86 desktop and server cores")
            sources += [f"cpu.{k}: {p.source('cpu.' + k)}" for k in ("neon_decode_scale", "neon_prefill_scale")]
    if lay.n_gpu and (lay.host in lay.layer or lay.host in lay.experts) and not rig.is_unified:
        out.append(f"prefill streams RAM-resident weights to GPU 0 over {rig.host_link} once per "
                   f"{cfg.n_ubatch_eff}-token ubatch (llama.cpp op offload, ubatches of >= {MIN_OFFLOAD_BATCH} tokens)")
    return out, sources
