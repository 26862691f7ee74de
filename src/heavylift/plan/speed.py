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
from heavylift.plan.memory import ContextConfig, kv_cache_bytes_per_layer
from heavylift.plan.placement import LayerBytes, Placement

GPU_BW_EFFICIENCY = 0.75  # llama.cpp CUDA mat-vec on quantized weights: typically 70-85% of peak (assumed)
GPU_FLOP_EFFICIENCY = 0.40  # quantized mat-mat (MMQ) vs. dense FP16 tensor peak (assumed)
CPU_BW_EFFICIENCY = 0.80  # multi-core streaming reads vs. theoretical DDR peak (assumed)
# CPU per-core rates, from the dev VM's uncontended figures for SmolLM2-135M Q4_1 (2 vCPUs of an
# AVX-512 Xeon, llama.cpp 0c1e570 CPU build, 2 threads): ~85 tok/s decode over 108 MB read per
# token = 4.6 GB/s per core (compute-bound, far below RAM bandwidth), and ~400 tok/s prefill =
# 56 GFLOP/s per core. bench/plan_speed.py re-measures and prints predicted/measured; NOTE: its
# first run (load average 4 on 2 cores from other agents' servers) measured far lower, so these
# constants still await an uncontended re-measurement.
CPU_DECODE_BPS_PER_CORE = 4.6e9
CPU_PREFILL_FLOPS_PER_CORE = 56e9


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
             prompt_tokens: int, active_params: float) -> SpeedEstimate:
    n = arch.n_layer
    frac = arch.n_expert_used / arch.n_expert if arch.is_moe else 1.0
    # KV read per token for ONE sequence at a full context: the cache of one stream
    kv_one = [b // max(1, cfg.n_parallel if not cfg.kv_unified else 1) for b in kv_cache_bytes_per_layer(arch, cfg)]
    output_read = layers.output if layers.output > 4096 else layers.token_embd  # tied: output reads token_embd
    gpu_devs = [d for d in placement.devices if d.kind == "gpu"]
    host = next(d for d in placement.devices if d.kind == "cpu")
    with_output = placement.n_gpu_layers >= n and bool(gpu_devs)

    def layer_read(il: int, experts_here: bool) -> int:
        return layers.dense[il] + (int(layers.experts[il] * frac) if experts_here else 0) + kv_one[il]

    time_s, roof_s, total_bytes = 0.0, 0.0, 0
    for d, spec in zip(gpu_devs, rig.gpus, strict=False):
        b = sum(layer_read(il, il >= placement.n_cpu_moe) for il in d.layers)
        if with_output and d is gpu_devs[-1]:
            b += output_read
        time_s += b / (spec.bandwidth_bps * GPU_BW_EFFICIENCY)
        roof_s += b / spec.bandwidth_bps
        total_bytes += b
    host_b = sum(layer_read(il, True) for il in host.layers)
    host_b += sum(int(layers.experts[il] * frac) for il in host.expert_layers_in_ram if il not in host.layers)
    if not with_output:
        host_b += output_read
    cores = rig.cpu_cores or 1
    host_rate = min(rig.ram_bandwidth_bps * CPU_BW_EFFICIENCY, cores * CPU_DECODE_BPS_PER_CORE)
    time_s += host_b / host_rate if host_b else 0.0
    roof_s += host_b / rig.ram_bandwidth_bps if host_b else 0.0
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
        prefill = cores * CPU_PREFILL_FLOPS_PER_CORE / flops_tok
    decode = 1.0 / time_s if time_s else 0.0
    assumptions = [
        f"decode at a full context of {cfg.ctx // cfg.n_parallel:,} tokens, one sequence",
        f"GPU: {GPU_BW_EFFICIENCY:.0%} of peak bandwidth for decode, {GPU_FLOP_EFFICIENCY:.0%} of FP16 tensor peak for prefill",
        f"CPU: min(RAM peak x {CPU_BW_EFFICIENCY:.0%}, {cores} cores x {CPU_DECODE_BPS_PER_CORE / 1e9:.1f} GB/s/core "
        f"measured on the dev VM) = {host_rate / 1e9:.1f} GB/s for weights in RAM; prefill {CPU_PREFILL_FLOPS_PER_CORE / 1e9:.0f} "
        "GFLOP/s per core (dev VM figure)",
    ]
    if gpu_devs and host.expert_layers_in_ram:
        assumptions.append("prompt processing streams RAM-resident weights to the GPU over "
                           f"{rig.host_link} once per {cfg.n_ubatch_eff}-token ubatch")
    return SpeedEstimate(decode, 1.0 / roof_s if roof_s else 0.0, prefill, prompt_tokens / prefill + 1.0 / max(decode, 1e-9),
                         prompt_tokens, total_bytes, flops_tok, assumptions)

