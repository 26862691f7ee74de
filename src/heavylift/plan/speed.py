"""Decode and prefill speed: what a token costs (plan/speed_work.py) over what each device does per
second, with the model's fitted constants (plan/speed_params.py). docs/speed.md has the derivation.

Decode, one step of B sequences (B = n_concurrent) at `depth` cached tokens each. Layers run one
after another (llama.cpp's layer split), so the devices' times add:
  GPU:  max(weights / (peak BW x bw_eff x quant factor x HBM factor), B x FLOPs / (FP16 peak x mm_eff))
        + KV / (peak BW x kv_eff) + layers x layer_s + MoE layers x moe_layer_s
        + recurrent layers x recurrent_layer_s
  host: dense weights and KV at min(RAM bandwidth x bw_eff (NUMA: one socket plus numa_gain per
        extra socket), cores x per-core rate), experts at expert_eff of that (mul_mat_id gathers),
        + layers x layer_s on GPU rigs
  + hops x hop_s (GPU -> CPU -> GPU per layer whose experts stay in RAM, one per device boundary)
  + token_s (per token on GPU rigs: launch, sync, sampling).
Prefill, per ubatch of u tokens starting at cached position s:
  matmul FLOPs (2 per weight element and token) / (FP16 peak x eff x u/(u + half_tokens)), the
  experts' mul_mat_id at its own efficiency with u x k / n_expert tokens per expert, attention
  FLOPs (the cached tokens grow through the prompt) at attn_eff, and layers x ubatch_layer_s.
  Weights in host memory are used by the GPU when a ubatch has >= 32 tokens (llama.cpp's op
  offload: ggml-backend.cpp ggml_backend_sched_backend_id_from_cur asks the GPU backend's
  offload_op, which in ggml-cuda.cu ggml_backend_cuda_device_offload_op is
  get_op_batch_size(op) >= GGML_OP_OFFLOAD_MIN_BATCH, default 32; Vulkan and Metal the same):
  they cross the host link once per ubatch; below 32 tokens the CPU computes them. Several GPUs
  with every layer offloaded overlap ubatches (pipeline parallelism, llama-context.cpp).
CPU-only prefill: FLOPs / (cores x prefill rate), attention at attn_nofa_eff without flash attention.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heavylift.hardware.rig import Rig
from heavylift.plan.memory import ContextConfig
from heavylift.plan.placement import LayerBytes, Placement
from heavylift.plan.speed_params import BackendParams, CpuParams, SpeedParams, quant_family
from heavylift.plan.speed_work import TokenWork, token_work

# ggml-cuda.cu / ggml-vulkan.cpp / ggml-metal-device.m: GGML_OP_OFFLOAD_MIN_BATCH (default 32)
MIN_OFFLOAD_BATCH = 32


@dataclass
class SpeedEstimate:
    decode_tps: float  # one sequence's tokens/s at depth_tokens (while n_concurrent decode together)
    decode_tps_depth0: float  # the same with an empty cache
    decode_tps_total: float  # all n_concurrent sequences together
    prefill_tps: float  # prompt_tokens after depth_tokens already cached
    ttft_s: float  # prefill of the prompt + the first decoded token
    roofline_decode_tps: float  # bytes per token over the devices' peak bandwidths, nothing else
    roofline_prefill_tps: float  # FLOPs per token over the devices' peak compute, nothing else
    bytes_per_token: int  # read per decode step of one sequence at depth_tokens
    flops_per_token: float  # 2 x active weights + attention at the middle of the prompt
    prompt_tokens: int
    depth_tokens: int
    n_concurrent: int = 1
    params: str = ""  # which constants: the public fit, or a calibrated profile
    assumptions: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


@dataclass
class _Layout:
    """Where each piece runs: unit g < n_gpu is rig.gpus[g], unit n_gpu is the host CPU."""

    layer: list[int]
    experts: list[int]
    output: int
    n_gpu: int

    @property
    def host(self) -> int:
        return self.n_gpu


def _layout(placement: Placement, rig: Rig, n: int) -> _Layout:
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
        return _Layout(layer, experts, output, n_gpu)
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
    return _Layout(layer, experts, output, len(gpu_devs))


@dataclass
class Geometry:
    """Everything about a model and a placement the constants do not change (the fit caches it)."""

    work: TokenWork
    layout: _Layout
    layers: LayerBytes
    output_bytes: int  # the output matmul's weights (token_embd when tied)
    family: str  # the weights' kernel family (speed_params.QUANT_FAMILIES)


def geometry(layers: LayerBytes, arch, cfg: ContextConfig, rig: Rig, placement: Placement,
             quant: str | None = None) -> Geometry:
    # tied embeddings: the output matmul reads token_embd (placement counts it with the host)
    out_b = layers.output if layers.output > 4096 else layers.token_embd
    return Geometry(token_work(arch, cfg, layers.dense, layers.experts, out_b),
                    _layout(placement, rig, arch.n_layer), layers, out_b, quant_family(quant))


def estimate(layers: LayerBytes, arch, cfg: ContextConfig, rig: Rig, placement: Placement, prompt_tokens: int,
             active_params: float, *, depth_tokens: int | None = None, n_concurrent: int = 1,
             params: SpeedParams | None = None, quant: str | None = None) -> SpeedEstimate:
    """Speed of this placement. depth_tokens None = decode at a full context (ctx per sequence);
    quant: the file type (Q4_K_M, F16, ...), whose kernels set the quant-family factors."""
    p = params or rig.speed_params or SpeedParams.fitted()
    geo = geometry(layers, arch, cfg, rig, placement, quant)
    w = geo.work
    full = cfg.ctx if cfg.kv_unified else cfg.ctx // cfg.n_parallel
    depth = full if depth_tokens is None else max(0, depth_tokens)
    b = max(1, n_concurrent)
    step = decode_step(geo, rig, p, cfg, depth, b)
    step0 = decode_step(geo, rig, p, cfg, 0, b)
    one = decode_step(geo, rig, p, cfg, depth, 1)
    start = 0 if depth_tokens is None else depth
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
        n_concurrent=b, params=p.label)
    est.assumptions, est.sources = _explain(p, rig, geo.layout, cfg, depth, depth_tokens is None, b)
    return est


@dataclass
class _Step:
    time_s: float
    roof_s: float
    bytes: float


def decode_step(geo: Geometry, rig: Rig, p: SpeedParams, cfg: ContextConfig, depth: int, b: int) -> _Step:
    """One decode step of b sequences, each with `depth` tokens cached."""
    w, lay, layers, out_b = geo.work, geo.layout, geo.layers, geo.output_bytes
    units = lay.n_gpu + 1
    weights, flops, kv = [0.0] * units, [0.0] * units, [0.0] * units
    expert_w = [0.0] * units  # host only: experts go through mul_mat_id at its own rate
    n_layers, n_moe, n_rec = [0] * units, [0] * units, [0] * units
    touched = w.experts_touched(b)
    hops = 0
    for il in range(len(w.dense_elems)):
        u, ue = lay.layer[il], lay.experts[il]
        weights[u] += layers.dense[il]
        flops[u] += 2.0 * w.dense_elems[il] * b
        kv[u] += (w.kv_row_bytes[il] * w.kv_tokens(il, depth) + w.state_bytes[il]) * b
        n_layers[u] += 1
        n_rec[u] += w.recurrent[il]
        if layers.experts[il]:
            (expert_w if ue == lay.host else weights)[ue] += layers.experts[il] * touched
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
    for g in range(lay.n_gpu):
        if not (weights[g] or kv[g]):
            continue
        spec, bp = rig.gpus[g], p.backend(rig.gpus[g].backend)
        eff = bp.bw_eff * p.qd("gpu", geo.family) * (bp.hbm_factor if spec.hbm else 1.0)
        mem_s = weights[g] / (spec.bandwidth_bps * min(eff, 1.0))
        comp_s = flops[g] / (spec.fp16_flops * bp.mm_eff)
        time_s += max(mem_s, comp_s) + kv[g] / (spec.bandwidth_bps * bp.kv_eff)
        time_s += n_layers[g] * bp.layer_s + n_moe[g] * bp.moe_layer_s + n_rec[g] * bp.recurrent_layer_s
        roof_s += (weights[g] + kv[g]) / spec.bandwidth_bps
    h = lay.host
    if weights[h] or expert_w[h] or kv[h]:
        ram, core = _host_rates(rig, p.cpu)
        core *= p.qd("cpu", geo.family)
        per_seq = b  # compute ceilings are per sequence: B sequences cost B times the core work
        time_s += max(weights[h] / ram, per_seq * weights[h] / core)
        time_s += max(expert_w[h] / ram, per_seq * expert_w[h] / core) / p.cpu.expert_eff
        kv_core = _cores(rig, p.cpu) * (p.cpu.kv_bps_per_core_fa if cfg.flash_attn else p.cpu.kv_bps_per_core)
        time_s += kv[h] / min(ram, kv_core)
        time_s += n_rec[h] * p.cpu.recurrent_layer_s
        if lay.n_gpu:
            time_s += n_layers[h] * p.cpu.layer_s
        roof_s += (weights[h] + expert_w[h] + kv[h]) / rig.ram_bandwidth_bps
    if lay.n_gpu:
        bp = p.backend(rig.gpus[0].backend)
        link = rig.gpu_link_bps or rig.host_link_bps or 1e12
        time_s += bp.token_s + hops * (bp.hop_s + b * 4 * w.n_embd / link)
    total = sum(weights) + sum(expert_w) + sum(kv)
    return _Step(time_s, roof_s, total / b if b else total)


def _cores(rig: Rig, cpu: CpuParams) -> float:
    """Cores that compute (llama.cpp's threads; the spec's cores)."""
    return float(rig.cpu_cores or 1)


def _host_rates(rig: Rig, cpu: CpuParams) -> tuple[float, float]:
    """(RAM bytes/s achieved, core bytes/s ceiling) for weights read on the CPU."""
    if rig.ram_bandwidth_measured:  # what the machine was measured to do, NUMA included
        return rig.ram_bandwidth_bps, _cores(rig, cpu) * cpu.decode_bps_per_core
    per_socket = rig.ram_bandwidth_bps / max(1, rig.sockets)
    peak = per_socket * (1 + cpu.numa_gain * (max(1, rig.sockets) - 1))
    return peak * cpu.bw_eff, _cores(rig, cpu) * cpu.decode_bps_per_core


def _sat(tokens: float, bp: BackendParams) -> float:
    return tokens / (tokens + bp.half_tokens)


def prefill_seconds(geo: Geometry, rig: Rig, p: SpeedParams, cfg: ContextConfig, start: int,
                    prompt: int) -> tuple[float, float]:
    """(seconds, roofline seconds) to process `prompt` tokens after `start` cached ones."""
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
            times, roof = _ubatch(geo, rig, p, cfg, start + done + pos, u, n)
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
            n: int) -> tuple[list[float], float]:
    """Seconds per unit (GPUs..., host, link) for one ubatch of u tokens, and its roofline seconds."""
    w, lay, layers = geo.work, geo.layout, geo.layers
    units = lay.n_gpu + 1
    times = [0.0] * (units + 1)
    roof = 0.0
    offload = lay.n_gpu > 0 and u >= MIN_OFFLOAD_BATCH
    cpu_rate = _cores(rig, p.cpu) * p.cpu.prefill_flops_per_core
    q_gpu, q_cpu = p.qp("gpu", geo.family), p.qp("cpu", geo.family)
    moe_tokens = u * w.frac  # tokens each expert's matmul gets: u x n_expert_used / n_expert
    link_s = 0.0
    for il in range(n):
        g, ge = lay.layer[il], lay.experts[il]
        kv_avg = w.kv_tokens(il, start + (u + 1) // 2)
        dense_f = 2.0 * w.dense_elems[il] * u
        exp_f = 2.0 * w.expert_elems[il] * w.frac * u
        attn_f = w.attn_flops[il] * u * kv_avg
        # dense weights and attention
        if g < lay.n_gpu:
            spec, bp = rig.gpus[g], p.backend(rig.gpus[g].backend)
            times[g] += dense_f / (spec.fp16_flops * bp.mm_eff * q_gpu * _sat(u, bp))
            times[g] += attn_f / (spec.fp16_flops * bp.attn_eff)
            times[g] += bp.ubatch_layer_s + (u * bp.recurrent_token_s if w.recurrent[il] else 0.0)
            roof += (dense_f + attn_f) / spec.fp16_flops
        else:
            # a layer kept in RAM: its matmuls go to GPU 0 with the weights streamed (op offload),
            # its attention stays with its KV cache on the CPU
            eff = p.cpu.attn_fa_eff if cfg.flash_attn else p.cpu.attn_nofa_eff
            times[lay.host] += attn_f / (cpu_rate * eff)
            roof += attn_f / rig.cpu_flops
            if offload:
                spec, bp = rig.gpus[0], p.backend(rig.gpus[0].backend)
                times[0] += dense_f / (spec.fp16_flops * bp.mm_eff * q_gpu * _sat(u, bp)) + bp.ubatch_layer_s
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
            times[gi] += exp_f / (spec.fp16_flops * bp.moe_mm_eff * q_gpu * _sat(moe_tokens, bp))
            roof += exp_f / spec.fp16_flops
            if ge == lay.host:
                link_s += layers.experts[il] / (rig.host_link_bps * bp.link_eff)
        else:
            times[lay.host] += exp_f / (cpu_rate * q_cpu * p.cpu.moe_prefill_eff)
            roof += exp_f / rig.cpu_flops
    if lay.n_gpu and lay.output < lay.n_gpu:
        spec = rig.gpus[lay.output]
        times[lay.output] += 2.0 * w.output_elems / (spec.fp16_flops * p.backend(spec.backend).mm_eff)
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


def _explain(p: SpeedParams, rig: Rig, lay: _Layout, cfg: ContextConfig, depth: int, full: bool,
             b: int) -> tuple[list[str], list[str]]:
    out = [f"decode at {'a full context of ' if full else ''}{depth:,} cached tokens"
           + (f", {b} sequences decoding together" if b > 1 else ", one sequence")]
    sources = [f"speed constants: {p.label}"]
    for backend in sorted({g.backend for g in rig.gpus}):
        bp = p.backend(backend)
        out.append(f"{backend}: decode reads weights at {bp.bw_eff:.0%} and the KV cache at {bp.kv_eff:.0%} of peak "
                   f"bandwidth, plus {bp.token_s * 1e3:.2f} ms per token, {bp.layer_s * 1e6:.0f} us per layer, "
                   f"{bp.moe_layer_s * 1e6:.0f} us per MoE layer, {bp.hop_s * 1e6:.0f} us per device hop; prefill "
                   f"matmuls at {bp.mm_eff:.0%} (experts {bp.moe_mm_eff:.0%}) of FP16 tensor peak at saturation, "
                   f"half of that at {bp.half_tokens:.0f} tokens per matmul; attention at {bp.attn_eff:.0%}")
        sources += [f"{backend}.{k}: {p.source(backend + '.' + k)}" for k in ("bw_eff", "token_s", "mm_eff")]
    if lay.host in lay.layer or lay.host in lay.experts or not rig.gpus:
        c = p.cpu
        ram, core = _host_rates(rig, c)
        numa = f", {rig.sockets} sockets (NUMA: +{c.numa_gain:.0%} per extra socket)" if rig.sockets > 1 else ""
        bw = "measured" if rig.ram_bandwidth_measured else f"{c.bw_eff:.0%} of peak"
        out.append(f"CPU: weights in RAM at min(RAM {ram / 1e9:.0f} GB/s ({bw}{numa}), {rig.cpu_cores} cores "
                   f"{rig.cpu_simd.upper()} x {c.decode_bps_per_core / 1e9:.1f} GB/s = {core / 1e9:.0f} GB/s), experts "
                   f"at {c.expert_eff:.0%} of that, KV cache "
                   f"{(c.kv_bps_per_core_fa if cfg.flash_attn else c.kv_bps_per_core) / 1e9:.2f} GB/s per core "
                   f"(flash attention {'on' if cfg.flash_attn else 'off'}); prefill "
                   f"{c.prefill_flops_per_core / 1e9:.0f} GFLOP/s per core")
        sources += [f"cpu.{k}: {p.source('cpu.' + k)}" for k in ("bw_eff", "decode_bps_per_core", "prefill_flops_per_core")]
    if lay.n_gpu and (lay.host in lay.layer or lay.host in lay.experts) and not rig.is_unified:
        out.append(f"prefill streams RAM-resident weights to GPU 0 over {rig.host_link} once per "
                   f"{cfg.n_ubatch_eff}-token ubatch (llama.cpp op offload, ubatches of >= {MIN_OFFLOAD_BATCH} tokens)")
    return out, sources
