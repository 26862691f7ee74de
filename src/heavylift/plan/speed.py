"""Decode and prefill speed from bytes, FLOPs and each device's numbers, with stated efficiencies.

Decode (one sequence, at the end of a full context): every token reads, on each device, the
weights it holds that a token touches (attention and shared weights, the top-k experts' share of
the expert tensors, the output matrix) plus that device's KV cache for the context. Layers run one
after another (llama.cpp's layer split), so device times add. The roofline is the same bytes
over the peak bandwidths, with no efficiency and no compute limit.
Prefill: 2 FLOPs per active weight per token plus attention (4 * n_head * head_dim per cached
token, averaged over the prompt), over each device's throughput x efficiency; weights kept in
RAM are streamed to the GPU once per ubatch over PCIe (ggml-backend offloads large-batch ops).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heavylift.hardware.rig import Rig
from heavylift.plan.memory import ContextConfig, kv_cache_bytes_per_layer, kv_cells
from heavylift.plan.placement import LayerBytes, Placement

GPU_BW_EFFICIENCY = 0.75  # llama.cpp CUDA mat-vec on quantized weights: typically 70-85% of peak (assumed)
GPU_FLOP_EFFICIENCY = 0.40  # quantized mat-mat (MMQ) vs. dense FP16 tensor peak (assumed)
CPU_BW_EFFICIENCY = 0.80  # multi-core streaming reads vs. theoretical DDR peak (assumed)
# CPU per-core rates, measured on the dev VM (2 vCPUs of an AVX-512 Xeon, llama.cpp 0c1e570 CPU
# build without AMX, 2 threads, idle machine) with llama-bench on SmolLM2-135M Q4_1 and its
# 4-expert top-2 upcycle, tg32 at depths 0 / 1024 / 4096, FA on and off, pp512:
# - weights: dense tg32 @ d0 = 104-149 tok/s over 96.6 MB read per token in 8 runs through the
#   day (the VM's speed drifts by +-20%), median 127 -> 6.2 GB/s per core (compute-bound: far
#   below RAM bandwidth);
# - expert weights (mul_mat_id): the MoE's extra 50 MB per token take 6.1 ms (tg32 @ d0 = 68-77
#   tok/s, median 72) -> 66% of that rate;
# - KV cache: decode time grows 3.96 us per cached token with FA off, 13.0 us with FA on
#   (23,040 B of K+V per token) -> 2.9 / 0.89 GB/s per core: the CPU flash-attention kernel is
#   3x slower per cached token than the plain path here, while FA speeds prefill up;
# - prefill: pp512 @ d0 = 374 tok/s at 2 x 134.5 MFLOP per token, and pp512 @ d4096 = 170 tok/s
#   with the attention FLOPs added -> 50 GFLOP/s per core in both cases (FA on).
# bench/plan_speed.py re-measures all of this and prints predicted/measured ratios.
CPU_DECODE_BPS_PER_CORE = 6.2e9
CPU_EXPERT_EFFICIENCY = 0.66
CPU_KV_BPS_PER_CORE = 2.9e9
CPU_KV_BPS_PER_CORE_FA = 0.89e9
CPU_PREFILL_FLOPS_PER_CORE = 50e9
CPU_ATTN_NOFA_EFFICIENCY = 0.60


@dataclass
class SpeedEstimate:
    decode_tps: float
    roofline_decode_tps: float
    prefill_tps: float
    ttft_s: float
    prompt_tokens: int
    bytes_per_token: int
    flops_per_token: float
    assumptions: list[str] = field(default_factory=list)


def estimate(layers: LayerBytes, arch, cfg: ContextConfig, rig: Rig, placement: Placement,
             prompt_tokens: int, active_params: float, depth_tokens: int | None = None) -> SpeedEstimate:
    """depth_tokens: tokens already in the cache when decoding (default: the full context of one sequence)."""
    n = arch.n_layer
    frac = arch.n_expert_used / arch.n_expert if arch.is_moe else 1.0
    # KV read per token for ONE sequence at a full context: the cache of one stream
    kv_one = [b // max(1, cfg.n_parallel if not cfg.kv_unified else 1) for b in kv_cache_bytes_per_layer(arch, cfg)]
    # The cache is allocated padded to 256 cells, but attention only does work for the tokens in
    # it (masked blocks are skipped): scale the read to the context actually used.
    per_stream, _, _ = kv_cells(arch, cfg)
    depth = cfg.ctx // (1 if cfg.kv_unified else cfg.n_parallel) if depth_tokens is None else depth_tokens
    used = min(1.0, depth / per_stream)
    kv_one = [int(b * used) for b in kv_one]
    gpu_devs, host = placement.gpus, placement.host

    # Each device reads the weights it holds (placement.py: the output matrix, tied or not, is in
    # dense_bytes of the output layer's device), its experts' active share and its layers' KV.
    time_s, roof_s, total_bytes = 0.0, 0.0, 0
    for d, spec in zip(gpu_devs, rig.gpus, strict=False):
        b = d.dense_bytes + int(d.expert_bytes * frac) + sum(kv_one[il] for il in d.layers)
        time_s += b / (spec.bandwidth_bps * GPU_BW_EFFICIENCY)
        roof_s += b / spec.bandwidth_bps
        total_bytes += b
    # The host reads its layers' dense weights, its experts (at the measured mul_mat_id
    # efficiency) and its layers' KV cache (at the measured attention rate), each at its own speed.
    host_w = host.dense_bytes
    host_e = int(host.expert_bytes * frac)
    host_kv = sum(kv_one[il] for il in host.layers)
    cores = rig.cpu_cores or 1
    ram_rate = rig.ram_bandwidth_bps * CPU_BW_EFFICIENCY
    host_rate = min(ram_rate, cores * CPU_DECODE_BPS_PER_CORE)
    # mul_mat_id's overhead is compute: it slows experts only while the cores, not RAM, are the limit.
    expert_rate = min(ram_rate, cores * CPU_DECODE_BPS_PER_CORE * CPU_EXPERT_EFFICIENCY)
    kv_rate = min(ram_rate, cores * (CPU_KV_BPS_PER_CORE_FA if cfg.flash_attn else CPU_KV_BPS_PER_CORE))
    host_b = host_w + host_e + host_kv
    if host_b:
        time_s += host_w / host_rate + host_e / expert_rate + host_kv / kv_rate
        roof_s += host_b / rig.ram_bandwidth_bps
    total_bytes += host_b
    # layer boundaries between devices: one n_embd F32 activation per hop over the link
    hops = len([d for d in placement.devices if d.layers]) - 1
    if hops > 0 and rig.gpu_link_bps:
        time_s += hops * arch.n_embd * 4 / rig.gpu_link_bps

    attn = 4 * arch.n_head * arch.head_dim_k * sum(1 for il in range(n) if arch.n_head_kv[il])
    flops_tok = 2 * active_params + attn * prompt_tokens / 2
    if gpu_devs:
        gpu_flops = sum(s.fp16_flops for s in rig.gpus[:1]) * GPU_FLOP_EFFICIENCY  # layers run one GPU at a time
        ub = cfg.n_ubatch_eff
        ram_weights = host.breakdown.weights_bytes - layers.token_embd
        per_ubatch = ub * flops_tok / gpu_flops + (ram_weights / rig.host_link_bps if rig.host_link_bps and
                                                    ram_weights > 0 and not rig.is_unified else 0.0)
        prefill = ub / per_ubatch
    else:
        # Without flash attention the CPU runs the attention FLOPs (materialised KQ, softmax) at
        # about 60% of its matmul rate (pp512 @ d4096, FA off vs on, on the dev VM).
        attn_flops = attn * prompt_tokens / 2
        eff = 1.0 if cfg.flash_attn else CPU_ATTN_NOFA_EFFICIENCY
        prefill = cores * CPU_PREFILL_FLOPS_PER_CORE / (flops_tok - attn_flops + attn_flops / eff)
    decode = 1.0 / time_s if time_s else 0.0
    assumptions = [
        f"decode with {depth:,} tokens in the cache, one sequence",
        f"GPU: {GPU_BW_EFFICIENCY:.0%} of peak bandwidth for decode, {GPU_FLOP_EFFICIENCY:.0%} of FP16 tensor peak for prefill",
        f"CPU: min(RAM peak x {CPU_BW_EFFICIENCY:.0%}, {cores} cores x {CPU_DECODE_BPS_PER_CORE / 1e9:.1f} GB/s/core) = "
        f"{host_rate / 1e9:.1f} GB/s for weights in RAM, experts {expert_rate / 1e9:.1f} GB/s, KV cache "
        f"{kv_rate / 1e9:.1f} GB/s (flash attention {'on' if cfg.flash_attn else 'off'}); prefill "
        f"{CPU_PREFILL_FLOPS_PER_CORE / 1e9:.0f} GFLOP/s per core (all per-core rates measured on the dev VM: plan/speed.py)",
    ]
    if gpu_devs and host.expert_layers:
        assumptions.append("prompt processing streams RAM-resident weights to the GPU over "
                           f"{rig.host_link} once per {cfg.n_ubatch_eff}-token ubatch")
    return SpeedEstimate(decode, 1.0 / roof_s if roof_s else 0.0, prefill, prompt_tokens / prefill + 1.0 / max(decode, 1e-9),
                         prompt_tokens, total_bytes, flops_tok, assumptions)

