"""Device figures: accelerators, system memory generations, links. Each figure with its source.

GPU figures are the vendors' datasheet / architecture-whitepaper numbers (dense FP16 tensor
throughput with FP16 accumulate, no sparsity). Prices are launch list prices in USD (used-market
prices vary; treat them as rough). Memory bandwidths are theoretical peaks; the planner applies a
stated efficiency to them.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1e9
GiB = 1024**3


@dataclass(frozen=True)
class DeviceSpec:
    key: str
    name: str
    kind: str  # "gpu" | "unified" (Apple: one pool shared by CPU and GPU)
    memory_bytes: int
    bandwidth_bps: float  # bytes/s, theoretical peak
    fp16_flops: float  # dense tensor FP16 FLOP/s
    tdp_w: float
    price_usd: float | None
    source: str


def _gpu(key, name, mem_gb, bw_gbs, tflops, tdp, price, source, kind="gpu"):
    return DeviceSpec(key, name, kind, int(mem_gb * GiB), bw_gbs * GB, tflops * 1e12, tdp, price, source)


DEVICES: dict[str, DeviceSpec] = {d.key: d for d in [
    _gpu("rtx-3090", "RTX 3090", 24, 936, 71, 350, 1499, "NVIDIA GA102 Ampere whitepaper / RTX 3090 datasheet; price: launch MSRP"),
    _gpu("rtx-3090-ti", "RTX 3090 Ti", 24, 1008, 80, 450, 1999, "NVIDIA RTX 3090 Ti datasheet (GA102 whitepaper rates); price: launch MSRP"),
    _gpu("rtx-4090", "RTX 4090", 24, 1008, 165.2, 450, 1599, "NVIDIA Ada Lovelace whitepaper, table 2 (FP16 acc. dense); price: launch MSRP"),
    _gpu("rtx-5090", "RTX 5090", 32, 1792, 209.5, 575, 1999, "NVIDIA Blackwell (GB202) whitepaper (419 TFLOPS sparse / 2); price: launch MSRP"),
    _gpu("a100-40gb", "A100 40GB SXM", 40, 1555, 312, 400, None, "NVIDIA A100 datasheet; price: unknown (not sold at list)"),
    _gpu("a100-80gb", "A100 80GB SXM", 80, 2039, 312, 400, None, "NVIDIA A100 datasheet; price: unknown (not sold at list)"),
    _gpu("h100", "H100 SXM 80GB", 80, 3350, 989, 700, None, "NVIDIA H100 datasheet (SXM5); price: unknown (not sold at list)"),
    _gpu("h200", "H200 SXM 141GB", 141, 4800, 989, 700, None, "NVIDIA H200 datasheet; price: unknown (not sold at list)"),
    _gpu("rtx-pro-6000", "RTX PRO 6000 Blackwell", 96, 1792, 252, 600, 8565,
         "NVIDIA RTX PRO 6000 Blackwell datasheet (bandwidth, 96 GB, 600 W); FP16 dense approx. half of the "
         "sparse figure; price: reported launch price"),
    _gpu("m3-ultra-512gb", "Mac Studio M3 Ultra 512GB", 512, 819, 28.4, 270, 9499,
         "Apple Mac Studio (2025) tech specs: 819 GB/s, 512 GB; FP16 = FP32 rate of the 80-core GPU (~28 TFLOPS, "
         "third-party measurement); 270 W max continuous power; price: Apple list price of the 512 GB config",
         kind="unified"),
    _gpu("m4-max-128gb", "Mac Studio M4 Max 128GB", 128, 546, 17, 240, 3699,
         "Apple Mac Studio (2025) tech specs: 546 GB/s, up to 128 GB; ~17 TFLOPS FP16 (40-core GPU, third-party); "
         "price: Apple list price of a 128 GB config", kind="unified"),
]}

DEVICE_ALIASES = {"3090": "rtx-3090", "3090-ti": "rtx-3090-ti", "3090ti": "rtx-3090-ti", "rtx-3090ti": "rtx-3090-ti",
                  "4090": "rtx-4090", "5090": "rtx-5090", "a100": "a100-80gb", "h100-sxm": "h100", "h200-sxm": "h200",
                  "pro-6000": "rtx-pro-6000", "rtx-6000-pro": "rtx-pro-6000", "m3-ultra": "m3-ultra-512gb",
                  "mac-studio-m3-ultra": "m3-ultra-512gb", "m4-max": "m4-max-128gb"}

# Apple Metal's default recommendedMaxWorkingSetSize is about 75% of unified memory (raise with
# `sudo sysctl iogpu.wired_limit_mb`); llama.cpp's Metal backend reports that as the device's memory.
UNIFIED_GPU_FRACTION = 0.75

# System RAM: peak = MT/s x 8 bytes (64-bit channel) x channels (JEDEC DDR4/DDR5 arithmetic).
RAM_DEFAULTS = {"ddr4": 3200, "ddr5": 5600}

# Links: usable one-direction bandwidth of an x16 link after 128b/130b coding (PCI-SIG spec), and NVLink.
LINKS: dict[str, tuple[float, str]] = {
    "pcie3": (15.75 * GB, "PCIe 3.0 x16: 8 GT/s x 16 lanes x 128/130 (PCI-SIG)"),
    "pcie4": (31.5 * GB, "PCIe 4.0 x16: 16 GT/s x 16 lanes x 128/130 (PCI-SIG)"),
    "pcie5": (63.0 * GB, "PCIe 5.0 x16: 32 GT/s x 16 lanes x 128/130 (PCI-SIG)"),
    "nvlink3": (300 * GB, "NVLink 3 (A100): 600 GB/s total, 300 GB/s per direction (NVIDIA datasheet)"),
    "nvlink4": (450 * GB, "NVLink 4 (H100/H200 SXM): 900 GB/s total, 450 GB/s per direction (NVIDIA datasheet)"),
    "nvlink-bridge": (56.25 * GB, "RTX 3090 NVLink bridge: 112.5 GB/s total (NVIDIA)"),
}
