"""Where each tensor goes, exactly as llama.cpp decides it, and what each device then holds.

llama.cpp (pinned 0c1e570), src/llama-model.cpp `llama_model_base::load_tensors`:
  i_gpu_start    = max(n_layer + 1 - n_gpu_layers, 0)
  act_gpu_layers = min(n_gpu_layers, n_layer + 1)            (0 when there is no GPU)
  Layer il = 0..n_layer, where il == n_layer is the output layer (`dev_output =
  get_layer_buft_list(n_layer_all)`), is on the CPU when il < i_gpu_start; otherwise on GPU
  `upper_bound(splits, float(il - i_gpu_start) / act_gpu_layers)`, with `splits` the cumulative
  --tensor-split shares normalised to 1, all in float32 (no --tensor-split: each device's free
  memory). So the output layer is one of the -ngl layers: `-ngl n_layer` leaves layer 0 (and its
  KV cache) on the CPU, `-ngl n_layer+1` offloads everything, larger values change nothing.
  The input layer (token_embd) always stays on the CPU. `llama_model::n_gpu_layers`: a negative
  -ngl ("auto" with --fit off, "all") means n_layer + 1.
Tied embeddings: the output layer gets its own copy of token_embd (TENSOR_DUPLICATED, src/models/*.cpp),
except on the device that holds token_embd itself (llama-model-loader.cpp create_tensor reuses it).
Tensor overrides (src/llama-model-loader.cpp `create_tensor` / buft_for_tensor): every tensor name
is tried against the -ot patterns in order with std::regex_search, the first match wins, whatever
layer the tensor belongs to (the patterns: plan/placement_flags.py).
The KV cache of a layer lives on its layer's device (llama-kv-cache.cpp, offload_kqv default).
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from heavylift.errors import UsageError
from heavylift.hardware.rig import Rig
from heavylift.plan.memory import (
    ContextConfig,
    MemoryBreakdown,
    compute_bytes,
    kv_cache_bytes_per_layer,
    output_bytes,
    recurrent_bytes_per_layer,
)
from heavylift.plan.placement_flags import CPU, PlacementFlags, TensorOverride
from heavylift.plan.quant_rules import TensorSpec

GPU_MARGIN = 0.05  # keep 5% of each GPU free (fragmentation, driver growth)
GPU_OVERHEAD = 600 * 1024 * 1024  # CUDA context + cuBLAS workspace per GPU: ~0.6 GiB (typical, not measured here)
RAM_RESERVE_FRACTION, RAM_RESERVE_MIN = 0.10, 4 * 1024**3  # leave max(10%, 4 GiB) to the OS and page cache
_INPUT = ("token_embd.", "position_embd.", "token_types.")  # LLM_TENSOR_LAYER_INPUT
# ggml-cuda (also built as ROCm's HIP backend) allocates more than ggml_nbytes: a quantized tensor's last
# row padded to MATRIX_ROW_PADDING columns (ggml-cuda.cu ggml_backend_cuda_buffer_type_get_alloc_size),
# then each tensor rounded up to the buffer type's 128-byte alignment (ggml-alloc.c, `GGML_PAD(size,
# alignment)`). Checked on an H200 (bench/gpu/README.md): 92.17, 90.05, 17,524.43 and 9,154.43 MiB, as logged.
CUDA_ROW_PADDING = 512
CUDA_ALIGNMENT = 128
PADDED_BACKENDS = ("cuda", "rocm")
_FIRST_LAYER = ("token_embd_norm.", "rope_freqs.", "rope_factors_")  # repeating-layer tensors without a block number


def _f32(x: float) -> float:
    """Round to IEEE float32, as llama.cpp's float arithmetic does (exact for one + or /)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def layer_devices(n_layer: int, n_gpu_layers: int, split: Sequence[float], n_gpus: int) -> list[int]:
    """Device of each layer 0..n_layer (the last is the output layer): CPU (-1) or a GPU index."""
    ngl = n_gpu_layers if n_gpu_layers >= 0 else n_layer + 1
    start = max(n_layer + 1 - ngl, 0)
    act = min(ngl, n_layer + 1) if n_gpus else 0
    shares = [float(x) for x in split][:n_gpus] if any(split) else [1.0] * n_gpus
    shares += [0.0] * (n_gpus - len(shares))
    cum, total = [], 0.0
    for x in shares:
        total = _f32(total + _f32(x))
        cum.append(total)
    cum = [_f32(c / total) for c in cum] if total else cum
    out = []
    for il in range(n_layer + 1):
        if il < start or il - start >= act:
            out.append(CPU)
        else:
            out.append(bisect_right(cum, _f32(_f32(il - start) / act)))  # std::upper_bound
    return out


@dataclass
class DevicePlan:
    name: str
    kind: str  # "gpu" | "cpu"
    capacity_bytes: int
    usable_bytes: int
    breakdown: MemoryBreakdown
    layers: list[int] = field(default_factory=list)  # repeating layers assigned here (their KV cache too)
    has_output: bool = False  # the output layer (output norm + matrix) is here
    dense_bytes: int = 0  # weights here that every token reads: non-expert layer tensors and the output matrix
    expert_bytes: int = 0  # expert tensors here (a token reads n_expert_used / n_expert of them)
    expert_layers: list[int] = field(default_factory=list)  # layers with expert tensors here

    @property
    def used_bytes(self) -> int:
        return self.breakdown.sum()

    @property
    def fits(self) -> bool:
        return self.used_bytes <= self.usable_bytes

    @property
    def overflow_bytes(self) -> int:
        return max(0, self.used_bytes - self.usable_bytes)


@dataclass
class Placement:
    devices: list[DevicePlan]  # the GPUs in order, then the host
    flags: PlacementFlags  # the llama-server flags that give exactly this placement
    layer_device: list[int]  # per layer 0..n_layer (last: output layer): CPU (-1) or GPU index
    margin_note: str
    notes: list[str] = field(default_factory=list)  # what llama.cpp does with the flags (clamping, defaults)

    @property
    def fits(self) -> bool:
        return all(d.fits for d in self.devices)

    @property
    def host(self) -> DevicePlan:
        return self.devices[-1]

    @property
    def gpus(self) -> list[DevicePlan]:
        return self.devices[:-1]

    @property
    def n_gpu_layers(self) -> int:
        """Layers on GPUs, the output layer counted (llama.cpp's "offloaded N/n_layer+1 layers")."""
        return sum(1 for d in self.layer_device if d != CPU)


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


@dataclass
class _Held:
    memory: int = 0
    dense: int = 0
    experts: int = 0
    expert_layers: set[int] = field(default_factory=set)
    any_layer: bool = False


@dataclass(frozen=True)
class _Tensor:
    name: str
    n_bytes: int
    layer: int  # block index; n_layer for the output layer; -1 for the input layer
    is_expert: bool
    shares_input: bool = False  # the tied output's copy of token_embd: no extra memory on token_embd's own device
    cuda_bytes: int = 0  # what a CUDA/ROCm buffer allocates for it (CUDA_ROW_PADDING, CUDA_ALIGNMENT)


def _cuda_bytes(t: TensorSpec) -> int:
    size = t.n_bytes
    if t.ggml_type.block_size > 1 and t.shape and t.shape[0] % CUDA_ROW_PADDING:
        size += t.ggml_type.row_bytes(CUDA_ROW_PADDING - t.shape[0] % CUDA_ROW_PADDING)
    return -(-size // CUDA_ALIGNMENT) * CUDA_ALIGNMENT


def _tensors(tensors: list[TensorSpec], n_layer: int) -> list[_Tensor]:
    out = []
    for t in tensors:
        if t.layer >= 0:
            layer = t.layer
        elif t.name.startswith(_FIRST_LAYER):
            layer = 0
        elif t.name.startswith(_INPUT):
            layer = -1
        else:
            layer = n_layer
        out.append(_Tensor(t.name, t.n_bytes, layer, "_exps" in t.name, cuda_bytes=_cuda_bytes(t)))
    if not any(t.name == "output.weight" for t in tensors):
        embd = next((t for t in tensors if t.name == "token_embd.weight"), None)
        if embd is not None:
            out.append(_Tensor(embd.name, embd.n_bytes, n_layer, False, shares_input=True,
                               cuda_bytes=_cuda_bytes(embd)))
    return out


class Placer:
    """One model + context + rig: evaluates any llama-server placement flags, or finds the best."""

    def __init__(self, tensors: list[TensorSpec], arch, cfg: ContextConfig, rig: Rig):
        self.arch, self.cfg, self.rig = arch, cfg, rig
        self.n_layer, self.n_gpus = arch.n_layer, len(rig.gpus)
        self.tensors = _tensors(tensors, arch.n_layer)
        self.kv = kv_cache_bytes_per_layer(arch, cfg)
        self.rs = recurrent_bytes_per_layer(arch, cfg)
        self.ram_reserve = max(int(rig.ram_bytes * RAM_RESERVE_FRACTION), RAM_RESERVE_MIN if rig.gpus
                               else min(RAM_RESERVE_MIN, rig.ram_bytes // 4))
        self.usable = [int(g.memory_bytes * (1 - GPU_MARGIN)) - GPU_OVERHEAD for g in rig.gpus]
        self.note = ((f"GPU: keep {GPU_MARGIN:.0%} free + {GPU_OVERHEAD / 2**30:.1f} GiB CUDA overhead each; "
                      if rig.gpus else "") + f"RAM: keep {self.ram_reserve / 2**30:.1f} GiB for the OS")

    # -- evaluating given flags ---------------------------------------------------------------
    def evaluate(self, flags: PlacementFlags) -> Placement:
        """Memory per device for exactly these flags, as llama.cpp would place the tensors."""
        n, notes = self.n_layer, []
        ngl = -1 if flags.n_gpu_layers is None else flags.n_gpu_layers  # llama-server's default "auto" = all
        split = flags.tensor_split or ()
        if split and len(split) != self.n_gpus:
            raise UsageError(f"--tensor-split has {len(split)} entries but --hw has {self.n_gpus} GPU(s); "
                             f"give one share per GPU (e.g. -ts {','.join(['1'] * max(self.n_gpus, 1))})")
        if any(x < 0 for x in split):
            raise UsageError(f"--tensor-split {','.join(f'{x:g}' for x in split)}: shares must be 0 or more")
        if not self.n_gpus and ngl:
            notes.append("--hw has no GPU: llama.cpp ignores -ngl / --tensor-split and keeps every layer in RAM")
        elif ngl > n + 1:
            notes.append(f"-ngl {ngl} = all {n + 1} layers ({n} repeating + the output layer): llama.cpp "
                         f"clamps it to n_layer + 1 = {n + 1}")
        elif ngl == n:
            notes.append(f"-ngl {n} offloads layers 1-{n - 1} and the output layer; layer 0 and its KV cache "
                         f"stay in RAM (llama.cpp counts the output layer: -ngl {n + 1} offloads all)")
        if self.n_gpus > 1 and not any(split) and ngl:
            notes.append("no --tensor-split: llama.cpp splits by each GPU's free memory at start; "
                         "assumed equal to its capacity")
            split = tuple(float(g.memory_bytes) for g in self.rig.gpus)
        overrides = flags.overrides(self.n_gpus)
        layer_dev = layer_devices(n, ngl, split, self.n_gpus)
        weights = self._weights(layer_dev, overrides)
        devices = [self._gpu(g, layer_dev, weights[g]) for g in range(self.n_gpus)]
        devices.append(self._host(layer_dev, weights[CPU]))
        return Placement(devices, flags, layer_dev, self.note, notes)

    def _weights(self, layer_dev: list[int], overrides: list[TensorOverride]) -> dict[int, _Held]:
        """What each device (CPU = -1) holds: each tensor on its layer's device unless an override matches."""
        held = {dev: _Held() for dev in range(-1, self.n_gpus)}
        padded = {g for g in range(self.n_gpus) if self.rig.gpus[g].backend in PADDED_BACKENDS}
        embd_dev = copy_dev = None
        copy_bytes = 0
        for t in self.tensors:
            dev = next((o.device for o in overrides if o.matches(t.name, t.layer)),
                       CPU if t.layer < 0 else layer_dev[t.layer])
            size = t.cuda_bytes if dev in padded else t.n_bytes
            if t.shares_input:
                copy_dev, copy_bytes = dev, size
            elif t.name == "token_embd.weight":
                embd_dev = dev
            h = held[dev]
            h.memory += size
            if t.is_expert:
                h.experts += t.n_bytes
                h.expert_layers.add(t.layer)
            elif t.layer >= 0:  # the input layer is a row lookup: a token reads one row of it
                h.dense += t.n_bytes
            h.any_layer = h.any_layer or t.layer >= 0
        if copy_dev is not None and copy_dev == embd_dev:
            # llama-model-loader.cpp create_tensor: a TENSOR_DUPLICATED tensor whose original is in
            # the same buffer type is the original (no second copy)
            held[copy_dev].memory -= copy_bytes
        return held

    def _gpu(self, g: int, layer_dev: list[int], held: _Held) -> DevicePlan:
        n, spec = self.n_layer, self.rig.gpus[g]
        layers = [il for il in range(n) if layer_dev[il] == g]
        has_output = layer_dev[n] == g
        busy = bool(layers) or has_output or held.memory > 0
        bd = MemoryBreakdown(weights_bytes=held.memory, kv_cache_bytes=sum(self.kv[il] for il in layers),
                             recurrent_state_bytes=sum(self.rs[il] for il in layers),
                             compute_bytes=compute_bytes(self.arch, self.cfg, has_output=has_output) if busy else 0,
                             overhead_bytes=GPU_OVERHEAD)
        return DevicePlan(f"GPU{g} {spec.name}", "gpu", spec.memory_bytes, self.usable[g] + GPU_OVERHEAD, bd,
                          layers, has_output, held.dense, held.experts, sorted(held.expert_layers))

    def _host(self, layer_dev: list[int], held: _Held) -> DevicePlan:
        n, arch, cfg = self.n_layer, self.arch, self.cfg
        layers = [il for il in range(n) if layer_dev[il] == CPU]
        has_output = layer_dev[n] == CPU
        # A host that runs any layer's work reserves a full graph; one that only embeds the input
        # needs the input activations (4 ubatch x n_embd F32 tensors).
        works = bool(layers) or has_output or held.any_layer
        bd = MemoryBreakdown(weights_bytes=held.memory, kv_cache_bytes=sum(self.kv[il] for il in layers),
                             recurrent_state_bytes=sum(self.rs[il] for il in layers),
                             compute_bytes=compute_bytes(arch, cfg, has_output=has_output) if works
                             else 4 * cfg.n_ubatch_eff * arch.n_embd * 4,
                             output_bytes=output_bytes(arch, cfg))
        return DevicePlan("CPU + RAM", "cpu", self.rig.ram_bytes, self.rig.ram_bytes - self.ram_reserve, bd,
                          layers, has_output, held.dense, held.experts, sorted(held.expert_layers))

    # -- the planner's own choice -------------------------------------------------------------
    def best(self) -> Placement:
        """The placement the planner recommends: everything on the GPUs if it fits; else (MoE) the
        experts of the fewest first layers in RAM; else the fewest layers in RAM. Layers are shared
        over the GPUs by their room, and the flags (-ngl, --tensor-split, --n-cpu-moe) reproduce it
        exactly through `evaluate`."""
        n = self.n_layer
        if not self.n_gpus:
            return self.evaluate(PlacementFlags(n_gpu_layers=0))
        tries = [(n + 1, 0)]
        if self.arch.is_moe:
            k = self._fewest_cpu_moe(n + 1)
            tries.append((n + 1, k if k is not None else n))
        tries += [(ngl, n if self.arch.is_moe else 0) for ngl in range(n, -1, -1)]
        for ngl, k in tries:
            counts = self._split(ngl, k)
            if counts is None:
                continue
            placement = self.evaluate(PlacementFlags(
                ngl, tuple(float(c) for c in counts) if self.n_gpus > 1 and any(counts) else None,
                (("--n-cpu-moe", str(k)),) if k else ()))
            # The first candidate the GPUs hold is the answer: later ones only move more to RAM, so
            # if RAM overflows here it overflows there too (the honest picture of what does not fit).
            if all(d.fits for d in placement.gpus):
                return placement
        return self.evaluate(PlacementFlags(0))

    def _fewest_cpu_moe(self, ngl: int) -> int | None:
        """Smallest --n-cpu-moe K for which the GPUs hold -ngl layers (GPU bytes shrink as K grows)."""
        lo, hi = 1, self.n_layer
        if self._split(ngl, hi) is None:
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            if self._split(ngl, mid) is None:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _split(self, ngl: int, n_cpu_moe: int) -> list[int] | None:
        """Layers per GPU (the output layer counts as one) so that every GPU holds its share, or None.

        The share follows each GPU's room (usable memory minus its fixed costs); when that
        proportional split overflows a GPU, fill the GPUs in order instead (which finds a split
        whenever one exists, since llama.cpp's layers per GPU are contiguous)."""
        n = self.n_layer
        start = max(n + 1 - ngl, 0)
        cost = [0] * (n + 1)
        for t in self.tensors:
            on_cpu = t.layer < 0 or (t.is_expert and 0 <= t.layer < n_cpu_moe)
            if not on_cpu and t.layer >= start:
                cost[t.layer] += t.n_bytes
        for il in range(start, n):
            cost[il] += self.kv[il] + self.rs[il]
        base = compute_bytes(self.arch, self.cfg, has_output=False)
        cost[n] += compute_bytes(self.arch, self.cfg, has_output=True) - base
        slots = cost[start:]
        room = [u - base for u in self.usable]
        if not slots:
            return [0] * self.n_gpus
        total_room = sum(max(r, 0) for r in room) or 1
        counts, g, load, cum_room = [0] * self.n_gpus, 0, 0, max(room[0], 0)
        total, done = sum(slots), 0
        for c in slots:  # proportional: move on once the cumulative share of this GPU is reached
            while g < self.n_gpus - 1 and counts[g] and done + c > total * cum_room / total_room * 1.0001:
                g += 1
                cum_room += max(room[g], 0)
            counts[g] += 1
            done += c
        if self._loads_fit(counts, slots, room):
            return counts
        counts, g, load = [0] * self.n_gpus, 0, 0  # greedy fill in order
        for c in slots:
            while load + c > room[g] and g < self.n_gpus - 1:
                g, load = g + 1, 0
            counts[g] += 1
            load += c
        return counts if self._loads_fit(counts, slots, room) else None

    @staticmethod
    def _loads_fit(counts: list[int], slots: list[int], room: list[int]) -> bool:
        i = 0
        for g, k in enumerate(counts):
            if sum(slots[i:i + k]) > room[g]:
                return False
            i += k
        return True
