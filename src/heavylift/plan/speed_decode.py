"""Decode: one step of B sequences over the devices of a placement (the formula: plan/speed.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from heavylift.hardware.rig import Rig
from heavylift.plan.memory import ContextConfig
from heavylift.plan.placement import LayerBytes, Placement
from heavylift.plan.speed_params import CpuParams, SpeedParams, cpu_vec_dot_only, quant_family
from heavylift.plan.speed_work import TokenWork, token_work


@dataclass
class Layout:
    """Where each piece runs: unit g < n_gpu is rig.gpus[g], unit n_gpu is the host CPU."""

    layer: list[int]
    experts: list[int]
    output: int
    n_gpu: int

    @property
    def host(self) -> int:
        return self.n_gpu


def _layout(placement: Placement, rig: Rig, n: int) -> Layout:
    """Per layer, the unit that runs it and the unit that holds its experts; the output layer's unit."""
    n_gpu = len(rig.gpus)
    if hasattr(placement, "layer_device"):
        # llama.cpp's own assignment (plan/placement.py): devices 0..n_layer, the last the output
        # layer, -1 = CPU; each device lists the layers whose expert tensors it holds (-ot, -ncmoe)
        dev = [n_gpu if d < 0 or d >= n_gpu else d for d in placement.layer_device]
        layer, output = dev[:n], dev[n] if len(dev) > n else n_gpu
        experts = list(layer)
        for g, d in enumerate(placement.devices):
            unit = n_gpu if d.kind == "cpu" else g
            for il in d.expert_layers:
                experts[il] = unit
        return Layout(layer, experts, output, n_gpu)
    # the older Placement: GPU devices with their layers, the host with expert_layers_in_ram
    gpu_devs = [d for d in placement.devices if d.kind == "gpu"][:n_gpu]
    host_dev = next(d for d in placement.devices if d.kind == "cpu")
    layer = [n_gpu] * n
    for g, d in enumerate(gpu_devs):
        for il in d.layers:
            layer[il] = g
    in_ram = set(host_dev.expert_layers_in_ram)
    experts = [n_gpu if il in in_ram else layer[il] for il in range(n)]
    output = n_gpu - 1 if gpu_devs and placement.n_gpu_layers >= n else n_gpu
    return Layout(layer, experts, output, len(gpu_devs))


@dataclass
class Geometry:
    """Everything about a model and a placement the constants do not change (the fit caches it)."""

    work: TokenWork
    layout: Layout
    layers: LayerBytes
    output_bytes: int  # the output matmul's weights (token_embd when tied)
    family: str  # the weights' kernel family (speed_params.QUANT_FAMILIES)
    # AMD GPU generations ("rdna4", ...) on which the engine build runs every flash-attention prefill
    # on the tile kernel (builds older than the mma kernel's support: plan/speed_build.py FA_MMA_ADDED);
    # empty for today's engine
    fa_tile_all: frozenset[str] = frozenset()
    # the weights have no batched CPU matmul kernel (speed_params.cpu_vec_dot_only): experts and dense
    # matmuls run the same vec_dot, at one FLOP rate whatever the tokens per expert
    cpu_vec_dot_only: bool = False


def geometry(layers: LayerBytes, arch, cfg: ContextConfig, rig: Rig, placement: Placement,
             quant: str | None = None) -> Geometry:
    # tied embeddings: the output matmul reads token_embd (placement counts it with the host)
    out_b = layers.output if layers.output > 4096 else layers.token_embd
    return Geometry(token_work(arch, cfg, layers.dense, layers.experts, out_b),
                    _layout(placement, rig, arch.n_layer), layers, out_b, quant_family(quant),
                    cpu_vec_dot_only=cpu_vec_dot_only(quant))


@dataclass
class _Step:
    time_s: float
    roof_s: float
    bytes: float
    # per GPU: seconds reading the KV cache (repeated reads included) and of attention's arithmetic;
    # the step pays the larger (plan/speed.py says which)
    gpu_kv_s: list[float] = field(default_factory=list)
    gpu_attn_s: list[float] = field(default_factory=list)


# ggml-cpu ops.cpp ggml_compute_forward_flash_attn_ext_f16: decode splits the cached tokens over all
# threads when K and V are F16/F32 (one type) and at least this many are cached; prefill uses the
# tiled kernel for the same types. Quantized KV runs the one-query-row kernel for both.
FA_SPLIT_MIN_KV = 512


def cpu_fa_f16_kernels(cfg: ContextConfig, old_build: bool = False) -> bool:
    """True when the CPU runs flash attention on its F16 kernels (split-KV decode, tiled prefill):
    the cache type is F16/F32 (cfg.kv_type, K's type; V is assumed alike) and the build has them
    (llama.cpp PRs #19012 and #19209, January 2026; `old_build` marks a measurement from before)."""
    return not old_build and cfg.kv_type.lower() in ("f16", "f32")


def cpu_fa_decode_s(work: TokenWork, cfg: ContextConfig, cpu: CpuParams, cores: float, attn_flops: float,
                    depth: int, old_build: bool = False, n_threads: int | None = None) -> float:
    """Seconds of flash-attention compute per decode step on the CPU (CpuParams.fa_flops_per_core):
    all cores on the split-KV path, else one query head per thread. `cores`: compute_cores' big-core
    equivalents of the `n_threads` threads (default: as many)."""
    split = cpu_fa_f16_kernels(cfg, old_build) and depth >= FA_SPLIT_MIN_KV
    n = float(n_threads or cores)
    busy = 1.0 if split else min(1.0, max(1, work.n_head) / n)  # the share of threads that have a head
    return attn_flops / (cores * busy * cpu.fa_flops_per_core)


def _cuda_vec_decode(w: TokenWork, gqa: int, cc: float, n_kv: int, b: int, unified: bool) -> bool:
    """True when llama.cpp's CUDA flash attention decodes this layer with its vector kernel
    (ggml-cuda/fattn.cu ggml_cuda_get_best_fattn_kernel, Turing and newer): heads of at most 256
    with K and V alike; then a quantized cache for up to 2 query rows on Ada and newer (cc 8.9), 1
    before; an F16 cache only on Ada and newer for one row and one stream, unless the group has
    more than 4 heads and the cache is long (8192+) or the heads wide (256) -- older chips take the
    matrix-core kernel whenever GQA applies. B sequences are B query rows in one stream with
    --kv-unified, else B streams (Q->ne[3]) of one row each (llama-server's default)."""
    d = w.head_dim_k
    if d != w.head_dim_v or d > 256 or d % 64:
        return False
    rows, streams = (b, 1) if unified else (1, b)
    ada = cc >= 8.9
    if w.kv_quantized:
        return rows <= (2 if ada else 1)
    return ada and rows == 1 and streams == 1 and not (gqa > 4 and (d >= 256 or n_kv >= 8192))


# An L2 below this is small: 3-6 MB on Turing and Ampere GA10x (under 100 KB per SM), against 32-128 MB
# on Ada, Blackwell, A100 and Hopper (350 KB+ per SM); hardware/nvidia_chips.py.
SMALL_L2_BYTES = 16 * 1024**2


def cuda_kv_reads(w: TokenWork, il: int, spec, n_kv: int, b: int, miss: float, unified: bool = False) -> float:
    """Times layer il's KV cache crosses DRAM in one CUDA flash-attention decode step. The vector
    kernel (ggml-cuda/fattn-vec.cuh) runs a block per query head, each reading its KV head's cache,
    so a group of `gqa` query heads reads it `gqa` times; the matrix-core kernel packs the group
    (ncols2) and reads it once. A large L2 serves the repeated reads (taken as all of them); on a
    small one the share `miss` (BackendParams.vec_kv_miss) reaches DRAM. 1 where the L2 is unknown."""
    gqa, cc, l2 = w.gqa(il), spec.cuda_cc, spec.l2_bytes
    if gqa <= 1 or cc is None or l2 is None or l2 >= SMALL_L2_BYTES or not n_kv:
        return 1.0
    return 1.0 + (gqa - 1) * miss if _cuda_vec_decode(w, gqa, cc, n_kv, b, unified) else 1.0


def decode_step(geo: Geometry, rig: Rig, p: SpeedParams, cfg: ContextConfig, depth: int, b: int,
                old_build: bool = False) -> _Step:
    """One decode step of b sequences, each with `depth` tokens cached (`old_build`: the CPU flash
    attention of builds before January 2026, see cpu_fa_f16_kernels)."""
    w, lay, layers, out_b = geo.work, geo.layout, geo.layers, geo.output_bytes
    units = lay.n_gpu + 1
    weights, flops, kv = [0.0] * units, [0.0] * units, [0.0] * units
    kv_traffic = [0.0] * units  # the cache bytes that cross DRAM, repeated reads included (cuda_kv_reads)
    attn = [0.0] * units  # attention FLOPs over the cache (the CPU flash attention; on GPUs, dec_attn_eff)
    expert_w = [0.0] * units  # host only: experts go through mul_mat_id at its own rate
    n_layers, n_moe, n_rec = [0] * units, [0] * units, [0] * units
    touched = w.experts_touched(b)
    hops = n_moe_host = 0
    for il in range(len(w.dense_elems)):
        u, ue = lay.layer[il], lay.experts[il]
        weights[u] += layers.dense[il]
        flops[u] += 2.0 * w.dense_elems[il] * b
        n_kv = w.kv_tokens(il, depth)
        kv[u] += (w.kv_row_bytes[il] * n_kv + w.state_bytes[il]) * b
        reads = (cuda_kv_reads(w, il, rig.gpus[u], n_kv, b, p.backend("cuda").vec_kv_miss, cfg.kv_unified)
                 if u < lay.n_gpu and cfg.flash_attn and rig.gpus[u].backend == "cuda" else 1.0)
        kv_traffic[u] += (w.kv_row_bytes[il] * n_kv * reads + w.state_bytes[il]) * b
        attn[u] += w.attn_flops[il] * w.kv_tokens(il, depth) * b
        n_layers[u] += 1
        n_rec[u] += w.recurrent[il]
        if layers.experts[il]:
            (expert_w if ue == lay.host else weights)[ue] += layers.experts[il] * touched
            n_moe_host += ue == lay.host
            flops[ue] += 2.0 * w.expert_elems[il] * w.frac * b
            n_moe[u] += 1
            if ue != u:
                hops += 2  # the activations go to the experts' device and back
                n_layers[ue] += u != lay.host  # the host runs a graph split for this layer too
        if il and lay.layer[il - 1] != u:
            hops += 1
    weights[lay.output] += out_b
    flops[lay.output] += 2.0 * w.output_elems * b
    if lay.layer and lay.layer[-1] != lay.output:
        hops += 1
    time_s = roof_s = 0.0
    gpu_kv_s, gpu_attn_s = [0.0] * lay.n_gpu, [0.0] * lay.n_gpu
    for g in range(lay.n_gpu):
        if not (weights[g] or kv[g]):
            continue
        spec, bp = rig.gpus[g], p.backend(rig.gpus[g].backend)
        eff = bp.bw_eff * p.qd("gpu", geo.family) * (bp.hbm_factor if spec.hbm else 1.0)
        mem_s = weights[g] / (spec.bandwidth_bps * min(eff, 1.0))
        comp_s = flops[g] / (spec.fp16_flops * bp.mm_eff)
        gpu_attn_s[g] = attn[g] / (spec.fp16_flops * bp.dec_attn_eff)
        gpu_kv_s[g] = kv_traffic[g] / (spec.bandwidth_bps * bp.kv_eff)
        time_s += max(mem_s, comp_s) + max(gpu_kv_s[g], gpu_attn_s[g])
        time_s += n_layers[g] * bp.layer_s + n_moe[g] * bp.moe_layer_s + n_rec[g] * bp.recurrent_layer_s
        roof_s += (weights[g] + kv[g]) / spec.bandwidth_bps
    h = lay.host
    if weights[h] or expert_w[h] or kv[h]:
        ram, core = host_rates(rig, p.cpu)
        core *= p.qd("cpu", geo.family)
        per_seq = b  # compute ceilings are per sequence: B sequences cost B times the core work
        time_s += max(weights[h] / ram, per_seq * weights[h] / core)
        # mul_mat_id runs the dense matmul's vec_dot per expert (ggml-cpu.c
        # ggml_compute_forward_mul_mat_id_one_chunk): only the RAM side differs (scattered slices)
        time_s += max(expert_w[h] / (ram * p.cpu.expert_eff), per_seq * expert_w[h] / core)
        # the router and gather ops of each MoE layer (build_moe_ffn in llama-graph.cpp): small graph
        # nodes, each ended by a thread barrier (ggml-cpu.c ggml_graph_compute_thread)
        time_s += n_moe_host * p.cpu.moe_layer_s
        cores = compute_cores(rig, p.cpu)
        if cfg.flash_attn:  # the KV cache streams from RAM while the kernel computes over it
            time_s += max(kv[h] / ram, cpu_fa_decode_s(w, cfg, p.cpu, cores, attn[h], depth, old_build,
                                                             sum(rig.threads())))
        else:
            time_s += kv[h] / min(ram, cores * p.cpu.kv_bps_per_core)
        time_s += n_rec[h] * p.cpu.recurrent_layer_s
        # each layer's graph nodes end in barriers of all threads (ggml-cpu.c ggml_graph_compute_thread),
        # CPU-only or with the GPU's layers between
        time_s += n_layers[h] * p.cpu.layer_s
        roof_s += (weights[h] + expert_w[h] + kv[h]) / rig.ram_bandwidth_bps
    if lay.n_gpu:
        bp = p.backend(rig.gpus[0].backend)
        link = rig.gpu_link_bps or rig.host_link_bps or 1e12
        time_s += bp.token_s + hops * (bp.hop_s + b * 4 * w.n_embd / link)
    total = sum(weights) + sum(expert_w) + sum(kv)
    return _Step(time_s, roof_s, total / b if b else total, gpu_kv_s, gpu_attn_s)


def compute_cores(rig: Rig, cpu: CpuParams, phase: str = "decode") -> float:
    """The computing cores (llama.cpp's threads, Rig.threads) in big x86 cores, the unit of the
    per-core rates: an efficiency core counts CpuParams.little_core_share of one, and an Arm core
    (NEON, not a unified SoC's) CpuParams.neon_decode_scale / neon_prefill_scale of one."""
    big, little = rig.threads()
    cores = big + little * cpu.little_core_share
    if rig.cpu_simd == "neon" and not rig.is_unified:
        cores *= cpu.neon_prefill_scale if phase == "prefill" else cpu.neon_decode_scale
    return cores


def host_rates(rig: Rig, cpu: CpuParams) -> tuple[float, float]:
    """(RAM bytes/s achieved, core bytes/s ceiling) for weights read on the CPU."""
    if rig.ram_bandwidth_measured:  # what the machine was measured to do, NUMA included
        return rig.ram_bandwidth_bps, compute_cores(rig, cpu) * cpu.decode_bps_per_core
    per_socket = rig.ram_bandwidth_bps / max(1, rig.sockets)
    peak = per_socket * (1 + cpu.numa_gain * (max(1, rig.sockets) - 1))
    return peak * cpu.bw_eff, compute_cores(rig, cpu) * cpu.decode_bps_per_core
