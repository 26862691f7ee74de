"""llama-server's placement flags (-ngl, --tensor-split, -ot, --n-cpu-moe, --cpu-moe) as llama.cpp reads them.

common/arg.cpp (pinned 0c1e570): `-ot A=DEV,B=DEV` becomes one tensor-buffer override per pair
(parse_tensor_buffer_overrides splits at every comma; DEV is a buffer-type name: CPU, CUDA0, ...);
`--n-cpu-moe K` becomes K overrides `blk\\.i\\.ffn_(up|down|gate|gate_up)_(ch|)exps` = CPU for
i < K (llm_add_n_cpu_ffn_overrides, LLM_FFN_EXPS_REGEX in common/common.h), `--cpu-moe` the same
pattern without the block number. They are kept in command-line order: the loader tries them in
that order and the first match wins (plan/placement.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from heavylift.errors import UsageError

CPU = -1  # device index of host memory
EXPS_REGEX = r"\.ffn_(up|down|gate|gate_up)_(ch|)exps"  # common/common.h LLM_FFN_EXPS_REGEX
_GPU_BUFFER = re.compile(r"(CUDA|ROCm|Vulkan|SYCL|MTL|Metal|CANN|OpenCL)(\d+)")


@lru_cache(maxsize=65536)
def _is_experts(name: str) -> bool:
    return re.search(EXPS_REGEX, name) is not None


@dataclass(frozen=True)
class TensorOverride:
    """One `-ot PATTERN=DEVICE` pair (device: CPU = -1 or a GPU index)."""

    pattern: str
    device: int
    layers_below: int | None = None  # --n-cpu-moe K: the K patterns blk.i<K.<EXPS_REGEX>, matched in one go

    def matches(self, name: str, layer: int) -> bool:
        if self.layers_below is not None:
            return 0 <= layer < self.layers_below and _is_experts(name)
        return re.search(self.pattern, name) is not None


def parse_device(name: str, n_gpus: int) -> int:
    if name in ("CPU", "CPU_Mapped") or name.endswith("_Host"):
        return CPU
    m = _GPU_BUFFER.fullmatch(name)
    valid = ", ".join(["CPU"] + [f"CUDA{i}" for i in range(n_gpus)])
    if not m:
        raise UsageError(f"-ot: unknown device {name!r}; use a llama.cpp buffer type name: {valid}")
    if int(m[2]) >= n_gpus:
        raise UsageError(f"-ot: {name} does not exist on a rig with {n_gpus} GPU(s); use one of {valid}")
    return int(m[2])


def parse_override(value: str, n_gpus: int) -> list[TensorOverride]:
    """`-ot A=DEV,B=DEV` as common/arg.cpp parse_tensor_buffer_overrides splits it (at every comma)."""
    out = []
    for item in value.split(","):
        pattern, eq, device = item.partition("=")
        if not eq or not pattern or not device:
            raise UsageError(f"-ot {value!r}: {item!r} is not PATTERN=DEVICE (e.g. -ot exps=CPU, "
                             r"-ot 'blk\.(1[0-9])\.ffn_.*_exps.=CUDA1')")
        try:
            re.compile(pattern)
        except re.error as e:
            raise UsageError(f"-ot {value!r}: {pattern!r} is not a valid regular expression ({e})") from None
        out.append(TensorOverride(pattern, parse_device(device, n_gpus)))
    return out


@dataclass(frozen=True)
class PlacementFlags:
    """llama-server's placement flags: what the user gives to be evaluated, or what realises a plan."""

    n_gpu_layers: int | None = None  # None: the planner chooses; negative or > n_layer: all layers
    tensor_split: tuple[float, ...] | None = None
    override_args: tuple[tuple[str, str], ...] = ()  # ("-ot", "A=DEV"), ("--n-cpu-moe", "K"), ("--cpu-moe", ""), in order

    @property
    def is_given(self) -> bool:
        return self.n_gpu_layers is not None or self.tensor_split is not None or bool(self.override_args)

    @property
    def n_cpu_moe(self) -> int:
        return sum(int(v) for f, v in self.override_args if f == "--n-cpu-moe")

    def overrides(self, n_gpus: int) -> list[TensorOverride]:
        out: list[TensorOverride] = []
        for flag, value in self.override_args:
            if flag == "-ot":
                out += parse_override(value, n_gpus)
            elif flag == "--n-cpu-moe":
                out.append(TensorOverride(EXPS_REGEX, CPU, int(value)))
            else:  # --cpu-moe
                out.append(TensorOverride(EXPS_REGEX, CPU))
        return out

    def argv(self) -> list[str]:
        out = [] if self.n_gpu_layers is None else ["-ngl", str(self.n_gpu_layers)]
        if self.tensor_split:
            out += ["--tensor-split", ",".join(f"{x:g}" for x in self.tensor_split)]
        for flag, value in self.override_args:
            out += [flag] + ([value] if value else [])
        return out
