"""Prefill: ubatches over the devices of a placement, llama.cpp's op offload, pipelining (plan/speed.py)."""

from __future__ import annotations

from heavylift.hardware.catalog import DeviceSpec
from heavylift.hardware.rig import Rig
from heavylift.plan.memory import ContextConfig
from heavylift.plan.speed_decode import Geometry, compute_cores, cpu_fa_f16_kernels
from heavylift.plan.speed_params import BackendParams, SpeedParams
from heavylift.plan.speed_work import TokenWork

# ggml-cuda.cu / ggml-vulkan.cpp / ggml-metal-device.m: GGML_OP_OFFLOAD_MIN_BATCH (default 32)
MIN_OFFLOAD_BATCH = 32


# AMD GPUs with matrix cores that llama.cpp's HIP build uses through WMMA (ggml-cuda/common.cuh
# amd_wmma_available: RDNA3, RDNA3.5, RDNA4), by catalog key; generations from the vendors' product pages
AMD_GENERATION = {"rx-7900-xt": "rdna3", "rx-7900-xtx": "rdna3", "radeon-pro-w7800": "rdna3",
                  "ryzen-ai-max-395-128gb": "rdna3.5", "radeon-ai-pro-r9700": "rdna4"}


def fa_on_tile(spec: DeviceSpec, geo: Geometry, il: int) -> bool:
    """True when llama.cpp's flash attention runs layer il's prefill on the tile kernel of an AMD
    RDNA GPU (ggml-cuda/fattn.cu ggml_cuda_get_best_fattn_kernel; TokenWork.fa_wmma) rather than its
    matrix-core kernel: its efficiency is BackendParams.attn_tile_eff instead of attn_eff."""
    gen = AMD_GENERATION.get(spec.key)
    if gen is None or spec.backend != "rocm":
        return False
    return gen in geo.fa_tile_all or not (geo.work.fa_wmma[il] if geo.work.fa_wmma else True)


def _sat(tokens: float, bp: BackendParams) -> float:
    return tokens / (tokens + bp.half_tokens)


REF_TENSOR_FLOPS = 100e12  # the peak at which BackendParams.size_exp leaves a GPU's rate as it is


def tensor_rate(peak: float, bp: BackendParams) -> float:
    """The rate the efficiencies scale, from a tensor peak: REF x (peak / REF) ** size_exp. Below REF
    it is above the peak when size_exp < 1; what a kernel reaches (an efficiency times it) stays
    below the peak for every catalog device (tests/plan/test_speed.py)."""
    return REF_TENSOR_FLOPS * (peak / REF_TENSOR_FLOPS) ** bp.size_exp


def _mm_flops(spec: DeviceSpec, geo: Geometry, bp: BackendParams) -> float:
    """The tensor rate a GPU's matmuls can reach: quantized weights go through llama.cpp's own MMQ
    kernels (mma.sync: DeviceSpec.kernel_flops); F16/BF16 weights through cuBLAS, which uses the whole
    chip (wgmma on Hopper). ggml-cuda.cu ggml_cuda_mul_mat picks between them."""
    return tensor_rate(spec.fp16_flops if geo.family == "f16" else spec.kernel_flops, bp)


def gpu_moe_flops(w: TokenWork, il: int, u: int, bp: BackendParams) -> float:
    """mul_mat_id's FLOPs on a GPU for a u-token ubatch, counting each weight tile's fixed cost.

    ggml-cuda/mmq.cu ggml_cuda_mul_mat_q sizes MMQ's column tile to the mean tokens per expert
    (ncols_opt = u x n_expert_used / n_expert) and mmq.cuh mul_mat_q_switch_J takes the narrowest tile
    (8..128 columns) that covers them: every tile loads and dequantizes its block of expert rows
    whatever its width, the MMA work grows with the width. So each touched expert costs as many
    FLOPs as BackendParams.moe_half_tokens more tokens would: at t tokens per expert mul_mat_id runs
    at t / (t + moe_half_tokens) of moe_mm_eff.
    """
    touched = 1.0 - (1.0 - w.frac) ** u
    return 2.0 * w.expert_elems[il] * (w.frac * u + touched * bp.moe_half_tokens)


def cpu_moe_eff(u: int, frac: float, half: float) -> float:
    """mul_mat_id's FLOP rate on the CPU relative to a dense matmul of the same u-token ubatch: each
    expert multiplies the u x frac tokens routed to it (CpuParams.moe_half_tokens)."""
    t = u * frac
    return (t / (t + half)) / (u / (u + half))


def prefill_seconds(geo: Geometry, rig: Rig, p: SpeedParams, cfg: ContextConfig, start: int,
                    prompt: int, old_build: bool = False) -> tuple[float, float]:
    """(seconds, roofline seconds) to process `prompt` tokens after `start` cached ones (`old_build`:
    the CPU flash attention of builds before January 2026, speed_decode.cpu_fa_f16_kernels)."""
    w, lay = geo.work, geo.layout
    ub = cfg.n_ubatch_eff
    n = len(w.dense_elems)
    pipeline = (lay.n_gpu > 1 and lay.output < lay.n_gpu and all(u < lay.n_gpu for u in lay.layer)
                and all(e < lay.n_gpu for e in lay.experts))
    total_s = roof_s = 0.0
    done = 0
    while done < prompt:
        chunk = min(cfg.n_batch, prompt - done)
        per_ub: list[list[float]] = []
        pos = 0
        while pos < chunk:
            u = min(ub, chunk - pos)
            times, roof = _ubatch(geo, rig, p, cfg, start + done + pos, u, n, old_build)
            per_ub.append(times)
            roof_s += roof
            pos += u
        if pipeline and len(per_ub) > 1:
            # each ubatch waits for the slowest GPU; the first fills the pipe
            total_s += sum(max(t) for t in per_ub) + sum(per_ub[0]) - max(per_ub[0])
        else:
            total_s += sum(sum(t) for t in per_ub)
        done += chunk
    return total_s, roof_s


def _ubatch(geo: Geometry, rig: Rig, p: SpeedParams, cfg: ContextConfig, start: int, u: int,
            n: int, old_build: bool = False) -> tuple[list[float], float]:
    """Seconds per unit (GPUs..., host, link) for one ubatch of u tokens, and its roofline seconds."""
    w, lay, layers = geo.work, geo.layout, geo.layers
    units = lay.n_gpu + 1
    times = [0.0] * (units + 1)
    roof = 0.0
    offload = lay.n_gpu > 0 and u >= MIN_OFFLOAD_BATCH
    cpu_rate = compute_cores(rig, p.cpu, "prefill") * p.cpu.prefill_flops_per_core
    # the CPU's attention: the tiled flash-attention kernel, its one-query-row kernel, or no FA
    if not cfg.flash_attn:
        cpu_attn_eff = p.cpu.attn_nofa_eff
    else:
        cpu_attn_eff = p.cpu.attn_fa_eff if cpu_fa_f16_kernels(cfg, old_build) else p.cpu.attn_fa_vec_eff
    q_gpu, q_cpu = p.qp("gpu", geo.family), p.qp("cpu", geo.family)
    link_s = 0.0
    for il in range(n):
        g, ge = lay.layer[il], lay.experts[il]
        cpu_experts = ge == lay.host and bool(layers.experts[il]) and not offload  # else op offload runs them
        if g == lay.host or cpu_experts:
            # a ubatch runs a layer's graph nodes once, each ended by a barrier of all threads
            # (ggml-cpu.c ggml_graph_compute_thread): the per-layer fixed costs decode pays per token
            times[lay.host] += p.cpu.layer_s + (p.cpu.moe_layer_s if cpu_experts else 0.0)
        kv_avg = w.kv_tokens(il, start + (u + 1) // 2)
        dense_f = 2.0 * w.dense_elems[il] * u
        exp_f = 2.0 * w.expert_elems[il] * w.frac * u
        attn_f = w.attn_flops[il] * u * kv_avg
        # dense weights and attention
        if g < lay.n_gpu:
            spec, bp = rig.gpus[g], p.backend(rig.gpus[g].backend)
            times[g] += dense_f / (_mm_flops(spec, geo, bp) * bp.mm_eff * q_gpu * _sat(u, bp))
            tile = cfg.flash_attn and fa_on_tile(spec, geo, il)
            times[g] += attn_f / (tensor_rate(spec.kernel_flops, bp) * (bp.attn_tile_eff if tile else bp.attn_eff))
            times[g] += bp.ubatch_layer_s + (u * bp.recurrent_token_s if w.recurrent[il] else 0.0)
            roof += (dense_f + attn_f) / spec.fp16_flops
        else:
            # a layer kept in RAM: its matmuls go to GPU 0 with the weights streamed (op offload),
            # its attention stays with its KV cache on the CPU
            times[lay.host] += attn_f / (cpu_rate * cpu_attn_eff)
            roof += attn_f / rig.cpu_flops
            if offload:
                spec, bp = rig.gpus[0], p.backend(rig.gpus[0].backend)
                times[0] += dense_f / (_mm_flops(spec, geo, bp) * bp.mm_eff * q_gpu * _sat(u, bp)) + bp.ubatch_layer_s
                link_s += layers.dense[il] / (rig.host_link_bps * bp.link_eff)
                roof += dense_f / spec.fp16_flops
            else:
                times[lay.host] += dense_f / (cpu_rate * q_cpu)
                roof += dense_f / rig.cpu_flops
        if not layers.experts[il]:
            continue
        if ge < lay.n_gpu or offload:
            gi = ge if ge < lay.n_gpu else 0
            spec, bp = rig.gpus[gi], p.backend(rig.gpus[gi].backend)
            # mul_mat_id reads every expert some token of the ubatch routes to at least once: with few
            # tokens per expert (small ubatches, many experts) that read, not the FLOPs, bounds it
            touched = layers.experts[il] * (1.0 - (1.0 - w.frac) ** u)
            bw = spec.bandwidth_bps * bp.moe_read_eff * (bp.hbm_factor if spec.hbm else 1.0)
            # MMQ streams the expert rows while it multiplies: the slower of the two bounds it (roofline)
            times[gi] += max(touched / bw, gpu_moe_flops(w, il, u, bp) / (_mm_flops(spec, geo, bp) * bp.moe_mm_eff * q_gpu))
            roof += exp_f / spec.fp16_flops
            if ge == lay.host:
                link_s += layers.experts[il] / (rig.host_link_bps * bp.link_eff)
        else:
            eff = 1.0 if geo.cpu_vec_dot_only else cpu_moe_eff(u, w.frac, p.cpu.moe_half_tokens)
            times[lay.host] += exp_f / (cpu_rate * q_cpu * eff)
            roof += exp_f / rig.cpu_flops
    if lay.n_gpu and lay.output < lay.n_gpu:
        spec = rig.gpus[lay.output]
        bp = p.backend(spec.backend)
        times[lay.output] += 2.0 * w.output_elems / (_mm_flops(spec, geo, bp) * bp.mm_eff)
    # activations crossing between devices: one per boundary between consecutive layers' devices,
    # two per layer whose experts another GPU holds (u x n_embd F32 each way)
    hops = sum(1 for il in range(1, n) if lay.layer[il] != lay.layer[il - 1])
    hops += sum(2 for il in range(n) if lay.experts[il] != lay.layer[il] and lay.experts[il] < lay.n_gpu)
    if hops and lay.n_gpu:
        bp = p.backend(rig.gpus[0].backend)
        link_s += hops * (bp.hop_s + 4.0 * u * w.n_embd / (rig.gpu_link_bps or rig.host_link_bps or 1e12))
    if not cfg.flash_attn:
        for g in range(lay.n_gpu):
            times[g] *= p.backend(rig.gpus[g].backend).nofa_prefill_factor
    times[units] = link_s if not rig.is_unified else 0.0
    return times, roof
