"""Which layers and tensors go where: GPUs (-ngl, --tensor-split), experts in RAM (--n-cpu-moe).

Mirrors llama.cpp's placement rules: token_embd always stays in host memory (llama-model.cpp:
the input layer is on the CPU); with -ngl N the *last* N repeating layers are offloaded and the
output layer too when N > n_layer; the KV cache of a layer lives with the layer (offload_kqv);
--n-cpu-moe K keeps the expert tensors (ffn_*_exps) of layers 0..K-1 in host memory
(common/arg.cpp: an --override-tensor "blk\\.i\\.ffn_(up|down|gate)_exps=CPU" per layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heavylift.hardware.rig import Rig
from heavylift.plan.memory import (
    ContextConfig,
    MemoryBreakdown,
    compute_bytes,
    kv_cache_bytes_per_layer,
    output_bytes,
    recurrent_bytes_per_layer,
)
from heavylift.plan.quant_rules import TensorSpec

GPU_MARGIN = 0.05  # keep 5% of each GPU free (fragmentation, driver growth)
GPU_OVERHEAD = 600 * 1024 * 1024  # CUDA context + cuBLAS workspace per GPU: ~0.6 GiB (typical, not measured here)
RAM_RESERVE_FRACTION, RAM_RESERVE_MIN = 0.10, 4 * 1024**3  # leave max(10%, 4 GiB) to the OS and page cache


@dataclass
class DevicePlan:
    name: str
    kind: str  # "gpu" | "cpu"
    capacity_bytes: int
    usable_bytes: int
    used_bytes: int
    breakdown: MemoryBreakdown
    layers: list[int] = field(default_factory=list)
    expert_layers_in_ram: list[int] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.used_bytes <= self.usable_bytes


@dataclass
class Placement:
    devices: list[DevicePlan]
    n_gpu_layers: int
    n_cpu_moe: int
    tensor_split: list[int]
    fits: bool
    margin_note: str


@dataclass
class LayerBytes:
    """Weights per layer split into expert tensors and the rest, plus the non-layer tensors."""

    dense: list[int]
    experts: list[int]
    token_embd: int
    output: int  # output.weight + output_norm (0 extra when tied: the output reads token_embd)

    @classmethod
    def from_tensors(cls, tensors: list[TensorSpec], n_layer: int) -> LayerBytes:
        dense, experts = [0] * n_layer, [0] * n_layer
        token_embd = output = 0
        for t in tensors:
            if t.layer >= 0:
                (experts if "_exps" in t.name else dense)[t.layer] += t.n_bytes
            elif t.name.startswith("token_embd"):
                token_embd += t.n_bytes
            else:
                output += t.n_bytes
        return cls(dense, experts, token_embd, output)


def place(layers: LayerBytes, arch, cfg: ContextConfig, rig: Rig) -> Placement:
    kv = [a + b for a, b in zip(kv_cache_bytes_per_layer(arch, cfg), recurrent_bytes_per_layer(arch, cfg), strict=False)]
    n = arch.n_layer
    ram_reserve = max(int(rig.ram_bytes * RAM_RESERVE_FRACTION), RAM_RESERVE_MIN) if rig.gpus else \
        max(int(rig.ram_bytes * RAM_RESERVE_FRACTION), min(RAM_RESERVE_MIN, rig.ram_bytes // 4))
    note = (f"GPU: keep {GPU_MARGIN:.0%} free + {GPU_OVERHEAD / 2**30:.1f} GiB CUDA overhead each; "
            f"RAM: keep {ram_reserve / 2**30:.1f} GiB for the OS")
    if not rig.gpus:
        return _host_only(layers, kv, arch, cfg, rig, ram_reserve, note)
    candidates = [(n, k) for k in range(0, n + 1)] if arch.is_moe else []
    candidates += [(ngl, n if arch.is_moe else 0) for ngl in range(n - 1, -1, -1)]
    best = None
    for ngl, ncmoe in [(n, 0)] + candidates:
        placement = _try(layers, kv, arch, cfg, rig, ngl, ncmoe, ram_reserve, note)
        if placement.fits:
            return placement
        if best is None and all(d.fits for d in placement.devices if d.kind == "gpu"):
            best = placement  # GPUs full, the rest in RAM: the honest picture of what does not fit
    return best or _try(layers, kv, arch, cfg, rig, 0, 0, ram_reserve, note)


def _host_only(layers, kv, arch, cfg, rig, ram_reserve, note) -> Placement:
    weights = sum(layers.dense) + sum(layers.experts) + layers.token_embd + layers.output
    bd = MemoryBreakdown(weights_bytes=weights, kv_cache_bytes=sum(kv), compute_bytes=compute_bytes(arch, cfg),
                         output_bytes=output_bytes(arch, cfg))
    host = DevicePlan("CPU + RAM", "cpu", rig.ram_bytes, rig.ram_bytes - ram_reserve, bd.sum(), bd,
                      list(range(arch.n_layer)), [il for il in range(arch.n_layer) if layers.experts[il]])
    return Placement([host], 0, 0, [], host.fits, note)


def _try(layers, kv, arch, cfg, rig, ngl, ncmoe, ram_reserve, note) -> Placement:
    n = arch.n_layer
    gpu_layers = list(range(n - ngl, n))
    usable = [int(g.memory_bytes * (1 - GPU_MARGIN)) - GPU_OVERHEAD for g in rig.gpus]
    with_output = ngl >= n  # llama.cpp offloads the output layer only when every layer is offloaded
    # per-GPU fixed costs: compute buffer (the last GPU also holds the logits) and overhead
    fixed = [compute_bytes(arch, cfg, has_output=False) for _ in rig.gpus]
    fixed[-1] = compute_bytes(arch, cfg, has_output=with_output) + (layers.output if with_output else 0)
    layer_cost = {il: layers.dense[il] + (layers.experts[il] if il >= ncmoe else 0) + kv[il] for il in gpu_layers}
    assign: list[list[int]] = [[] for _ in rig.gpus]
    room = [u - f for u, f in zip(usable, fixed, strict=False)]
    # spread layers in proportion to each GPU's room (llama.cpp splits by --tensor-split ratios)
    total_room = sum(max(r, 0) for r in room) or 1
    total_cost = sum(layer_cost.values())
    gi, acc = 0, 0
    for il in gpu_layers:
        share = max(room[gi], 0) / total_room * total_cost
        if acc + layer_cost[il] > share * 1.0001 and gi < len(rig.gpus) - 1 and assign[gi]:
            gi, acc = gi + 1, 0
        assign[gi].append(il)
        acc += layer_cost[il]
    devices = []
    for g, (spec, layers_g) in enumerate(zip(rig.gpus, assign, strict=False)):
        bd = MemoryBreakdown(
            weights_bytes=sum(layers.dense[il] + (layers.experts[il] if il >= ncmoe else 0) for il in layers_g)
            + (layers.output if with_output and g == len(rig.gpus) - 1 else 0),
            kv_cache_bytes=sum(kv[il] for il in layers_g), compute_bytes=fixed[g] - (
                layers.output if with_output and g == len(rig.gpus) - 1 else 0),
            overhead_bytes=GPU_OVERHEAD)
        devices.append(DevicePlan(f"GPU{g} {spec.name}", "gpu", spec.memory_bytes, usable[g] + GPU_OVERHEAD,
                                  bd.sum(), bd, layers_g))
    cpu_layers = [il for il in range(n) if il < n - ngl]
    ram_experts = [il for il in range(n) if layers.experts[il] and (il < ncmoe or il in cpu_layers)]
    host_bd = MemoryBreakdown(
        weights_bytes=layers.token_embd + sum(layers.dense[il] for il in cpu_layers)
        + sum(layers.experts[il] for il in ram_experts) + (0 if with_output else layers.output),
        kv_cache_bytes=sum(kv[il] for il in cpu_layers),
        compute_bytes=4 * cfg.n_ubatch_eff * arch.n_embd * 4 if not cpu_layers and not ram_experts
        else compute_bytes(arch, cfg, has_output=not with_output),
        output_bytes=output_bytes(arch, cfg))
    host = DevicePlan("CPU + RAM", "cpu", rig.ram_bytes, rig.ram_bytes - ram_reserve, host_bd.sum(), host_bd,
                      cpu_layers, ram_experts)
    devices.append(host)
    split = [len(a) for a in assign]
    return Placement(devices, ngl, ncmoe if ngl else 0, split, all(d.fits for d in devices), note)
