"""A machine as the planner sees it: accelerators, host RAM + CPU, the links between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from heavylift.hardware.catalog import GB, DeviceSpec, GiB

if TYPE_CHECKING:
    from heavylift.plan.speed_params import SpeedParams


@dataclass
class Rig:
    description: str
    gpus: list[DeviceSpec]  # accelerators llama.cpp offloads to (unified: the GPU's share of the pool)
    ram_bytes: int
    ram_bandwidth_bps: float  # peak, or measured when ram_bandwidth_measured
    cpu_cores: int | None  # physical cores, all sockets
    cpu_flops: float  # host FP32 FLOP/s (cores x GHz x SIMD FLOP/cycle), for the record; speed uses SpeedParams
    host_link_bps: float  # CPU <-> GPU (PCIe) one direction
    gpu_link_bps: float  # GPU <-> GPU
    host_link: str = "pcie4"
    gpu_link: str = "pcie4"
    ram_source: str = ""
    assumptions: list[str] = field(default_factory=list)
    host_tdp_w: float = 150.0  # CPU + board + RAM under load (rough, stated in the plan)
    host_price_usd: float | None = None
    sockets: int = 1  # CPU sockets (NUMA nodes): decode bandwidth does not add up across them
    ram_bandwidth_measured: bool = False  # the user gave a measured figure ("102GB/s"): no efficiency on it
    cpu_simd: str = "avx2"  # widest SIMD the CPU has (avx2 | avx512 | neon): its FLOP/cycle
    little_cores: int = 0  # of cpu_cores, the efficiency cores (Arm LITTLE, Intel E-cores)
    n_threads: int | None = None  # llama.cpp's -t; None = its default (threads())
    # A calibrated machine profile's constants; None = the speed model's fitted defaults.
    speed_params: SpeedParams | None = None

    @property
    def is_unified(self) -> bool:
        return any(g.kind == "unified" for g in self.gpus)

    def threads(self) -> tuple[int, int]:
        """(big, little) cores llama.cpp computes on. -t fills the big cores first (as Linux's
        scheduler does), one thread per core at most. Without -t, llama.cpp's default
        (common/common.cpp common_cpu_get_num_math): on x86 Linux a hybrid CPU's P-cores only
        ("efficiency cores harm lockstep threading"), elsewhere every physical core."""
        cores = self.cpu_cores or 1
        little = min(self.little_cores, cores)
        big = cores - little
        if self.n_threads is None:
            return (big, 0) if little and big and self.cpu_simd != "neon" else (big, little)
        n = min(self.n_threads, cores)
        return min(n, big), max(0, n - big)

    @property
    def tdp_w(self) -> float:
        return sum(g.tdp_w for g in self.gpus) + (0 if self.is_unified else self.host_tdp_w)

    @property
    def price_usd(self) -> float | None:
        prices = [g.price_usd for g in self.gpus]
        if any(p is None for p in prices):
            return None
        return sum(prices) + (self.host_price_usd or 0)  # type: ignore[arg-type]


def cpu_only_rig(description: str, ram_bytes: int, ram_bw: float, cores: int | None, cpu_flops: float,
                 ram_source: str, assumptions: list[str]) -> Rig:
    return Rig(description, [], ram_bytes, ram_bw, cores, cpu_flops, 0.0, 0.0, "none", "none", ram_source, assumptions)


def ram_bandwidth(mts: int, channels: int) -> float:
    return mts * 1e6 * 8 * channels


__all__ = ["Rig", "cpu_only_rig", "ram_bandwidth", "GB", "GiB"]
