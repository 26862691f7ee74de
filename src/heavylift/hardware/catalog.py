"""Device figures: accelerators, unified-memory machines, system memory, links. Each with its source.

Figures per device: memory, peak memory bandwidth, dense FP16 tensor throughput, board power, list
price, and the llama.cpp backend it is normally run with (the speed model keeps its constants per
backend). Conventions, applied to every entry so that devices compare on the same footing:
- `fp16_flops` is the DENSE (no 2:4 sparsity) FP16 tensor-core rate WITH FP16 ACCUMULATE. NVIDIA
  GeForce cards run FP32-accumulate at half that rate; the whitepapers list both. For Ampere,
  Ada and Blackwell GeForce/workstation parts it is SMs x 1024 FLOP/clk x boost clock (e.g. RTX
  4090: 128 x 1024 x 2.52 GHz = 330.3 TFLOPS, as in the Ada whitepaper), which also equals the
  published INT8 or FP4 "AI TOPS" / 2 or / 8 (the INT8 tensor path llama.cpp's MMQ kernels use
  runs at twice this rate). Apple GPUs have no FP16 tensor units before M5: there it is the FP32
  ALU rate (GPU cores x 128 ALUs x 2 x clock), which simdgroup matrix multiply achieves at best.
- `bandwidth_bps` is the theoretical peak (bus width x data rate); the speed model applies its
  own fitted efficiency per backend.
- `price_usd` is the launch list price (MSRP) in USD where the vendor published one, else None.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from heavylift.hardware.nvidia_chips import CHIPS

GB = 1e9
GiB = 1024**3

BACKENDS = ("cuda", "rocm", "metal", "vulkan", "sycl", "cpu")


@dataclass(frozen=True)
class DeviceSpec:
    key: str
    name: str
    kind: str  # "gpu" (own memory) | "unified" (one pool shared by CPU and GPU)
    memory_bytes: int
    bandwidth_bps: float  # bytes/s, theoretical peak
    fp16_flops: float  # dense FP16 tensor FLOP/s, FP16 accumulate (see the module docstring)
    tdp_w: float
    price_usd: float | None
    source: str
    backend: str = "cuda"  # the llama.cpp backend the speed model takes its constants from
    gpu_share: float = 1.0  # unified: the fraction of memory the GPU may use by default
    share_note: str = ""  # unified: where gpu_share comes from and how to raise it
    cpu_cores: int | None = None  # unified SoCs: the CPU cores beside the GPU
    hbm: bool = False  # HBM memory (data-centre parts): the speed model's hbm_factor applies
    # the share of fp16_flops llama.cpp's CUDA matmul and attention kernels can reach: they issue
    # mma.sync (ggml/src/ggml-cuda/mma.cuh), and Hopper reaches its datasheet rate only through wgmma
    mma_share: float = 1.0

    @property
    def cuda_cc(self) -> float | None:
        """NVIDIA compute capability (hardware/nvidia_chips.py), None for other devices."""
        chip = CHIPS.get(self.key)
        return chip[0] if chip else None

    @property
    def l2_bytes(self) -> float | None:
        """L2 cache of an NVIDIA device (hardware/nvidia_chips.py), None where unknown."""
        chip = CHIPS.get(self.key)
        return chip[1] * 1024**2 if chip and chip[1] else None

    @property
    def kernel_flops(self) -> float:
        """The tensor rate llama.cpp's kernels can reach: what the speed model's efficiencies scale."""
        return self.fp16_flops * self.mma_share


# Hopper (sm_90): its datasheet FP16 rate (132 SMs x 4096 FLOP/clk on the H100 SXM) is reached only
# through the warpgroup wgmma instructions (github.com/waynehacking8/blackwell-tensorcore-kernels
# README: "Hopper's Tensor Core ceiling is only reachable through wgmma"); llama.cpp's quantized matmul
# and flash-attention kernels issue mma.sync (ggml/src/ggml-cuda/mma.cuh). Assumed: mma.sync keeps
# Ampere's 2048 FLOP/clk per SM (A100: 108 SMs x 1.41 GHz x 2048 = 312 TFLOPS), half the datasheet
# rate. Checked on the Hopper rows of plan/data/public_measurements.csv: H100 PCIe Llama-3-8B pp512
# (m0168) predicted 1.94x its measurement without it, 1.00x with it; our H200 rows (split=ours)
# 2.2-2.7x -> 1.1-1.4x.
HOPPER_MMA_SHARE = 0.5


def _gpu(key: str, name: str, mem_gb: float, bw_gbs: float, tflops: float, tdp: float, price: float | None,
         source: str, backend: str = "cuda") -> DeviceSpec:
    hbm = key.startswith(("a100", "h100", "h200", "mi300", "mi100"))  # the HBM parts of this catalog
    hopper = key.startswith(("h100", "h200"))
    return DeviceSpec(key, name, "gpu", int(mem_gb * GiB), bw_gbs * GB, tflops * 1e12, tdp, price, source, backend,
                      hbm=hbm, mma_share=HOPPER_MMA_SHARE if hopper else 1.0)


# Apple: llama.cpp's Metal backend reports MTLDevice.recommendedMaxWorkingSetSize as the device's
# memory. Logged by ggml_metal_init: 16 GB -> 10922.67 MB (llama-cpp-python#687), 32 GB ->
# 21845.34 MB (ollama#434), 96 GB -> 73728 MB (llama.cpp#3213): 2/3 of memory up to 36 GB, 3/4
# above. macOS 26 reports 107.52 GiB on 128 GiB machines (antirez/ds4#893); `sudo sysctl
# iogpu.wired_limit_mb=N` raises it (Metal then reports N MiB).
def apple_gpu_share(memory_bytes: int) -> float:
    return 2 / 3 if memory_bytes <= 36 * GiB else 3 / 4


_APPLE_NOTE = ("Metal's default working-set limit (recommendedMaxWorkingSetSize: 2/3 of memory up to 36 GB, "
               "3/4 above, as logged by ggml_metal_init; macOS 26 gives 84% on 128 GB machines); raise it with "
               "`sudo sysctl iogpu.wired_limit_mb=N`, or give `NGB gpu` in --hw")
_APPLE_FLOPS = "FP16 = FP32 ALU rate: GPU cores x 128 ALUs x 2 x clock (clock from third-party measurements)"


def _apple(key: str, name: str, mem_gb: float, bw_gbs: float, tflops: float, tdp: float, price: float | None,
           source: str, cpu_cores: int) -> DeviceSpec:
    mem = int(mem_gb * GiB)
    return DeviceSpec(key, name, "unified", mem, bw_gbs * GB, tflops * 1e12, tdp, price,
                      f"{source}; {_APPLE_FLOPS}", "metal", apple_gpu_share(mem), _APPLE_NOTE, cpu_cores)


_AMPERE = "NVIDIA Ampere GA102/GA10x architecture whitepaper (FP16 tensor, FP16 acc., dense)"
_ADA = "NVIDIA Ada Lovelace architecture whitepaper (FP16 tensor, FP16 acc., dense)"
_BW = "NVIDIA RTX Blackwell GPU architecture whitepaper / product page (FP16 acc. dense = AI TOPS (FP4 sparse) / 8)"
_TURING = "NVIDIA Turing architecture whitepaper (FP16 tensor, FP16 acc., dense; reference boost clock)"

DEVICES: dict[str, DeviceSpec] = {d.key: d for d in [
    # --- NVIDIA GeForce ---
    _gpu("rtx-2080", "RTX 2080", 8, 448, 80.5, 215, 699,
         f"{_TURING}: 46 SMs, 1710 MHz; 8 GB GDDR6 256-bit 14 Gbps = 448 GB/s; 215 W; price: launch MSRP (FE $799)"),
    _gpu("rtx-2080-ti", "RTX 2080 Ti", 11, 616, 107.6, 250, 999,
         f"{_TURING}: 68 SMs, 1545 MHz; 11 GB GDDR6 352-bit 14 Gbps = 616 GB/s; 250 W; price: launch MSRP (FE $1,199)"),
    _gpu("rtx-3060-12gb", "RTX 3060 12GB", 12, 360, 50.9, 170, 329,
         f"{_AMPERE}: 28 SMs x 1024 x 1.777 GHz; 12 GB GDDR6 192-bit 15 Gbps = 360 GB/s; 170 W; price: launch MSRP"),
    _gpu("rtx-3070", "RTX 3070", 8, 448, 81.3, 220, 499,
         f"{_AMPERE}: 46 SMs x 1024 x 1.725 GHz; 8 GB GDDR6 256-bit 14 Gbps = 448 GB/s; 220 W; price: launch MSRP"),
    _gpu("rtx-3080", "RTX 3080 10GB", 10, 760, 119.1, 320, 699,
         f"{_AMPERE}: 68 SMs, 1710 MHz (119/238 TFLOPS); 10 GB GDDR6X 320-bit 19 Gbps = 760 GB/s; 320 W; price: launch MSRP"),
    _gpu("rtx-3080-ti", "RTX 3080 Ti", 12, 912, 136.4, 350, 1199,
         f"{_AMPERE}: 80 SMs x 1024 x 1.665 GHz; 12 GB GDDR6X 384-bit 19 Gbps = 912 GB/s; 350 W; price: launch MSRP"),
    _gpu("rtx-3090", "RTX 3090", 24, 936, 142.3, 350, 1499,
         f"{_AMPERE}: 82 SMs, 1695 MHz (142/285 TFLOPS); 24 GB GDDR6X 384-bit 19.5 Gbps = 936 GB/s; 350 W; price: launch MSRP"),
    _gpu("rtx-3090-ti", "RTX 3090 Ti", 24, 1008, 160.0, 450, 1999,
         f"{_AMPERE}: 84 SMs x 1024 x 1.86 GHz; 24 GB GDDR6X 21 Gbps = 1008 GB/s; 450 W; price: launch MSRP"),
    _gpu("rtx-4060-ti-16gb", "RTX 4060 Ti 16GB", 16, 288, 88.3, 165, 499,
         f"{_ADA}: 34 SMs x 1024 x 2.535 GHz; 16 GB GDDR6 128-bit 18 Gbps = 288 GB/s; 165 W; price: launch MSRP"),
    _gpu("rtx-4070-ti", "RTX 4070 Ti", 12, 504, 160.4, 285, 799,
         f"{_ADA}: 60 SMs x 1024 x 2.61 GHz; 12 GB GDDR6X 192-bit 21 Gbps = 504 GB/s; 285 W; price: launch MSRP"),
    _gpu("rtx-4070-ti-super", "RTX 4070 Ti SUPER", 16, 672, 176.4, 285, 799,
         f"{_ADA}: 66 SMs x 1024 x 2.61 GHz; 16 GB GDDR6X 256-bit 21 Gbps = 672 GB/s; 285 W; price: launch MSRP"),
    _gpu("rtx-4080", "RTX 4080", 16, 716.8, 194.9, 320, 1199,
         f"{_ADA}: 76 SMs, 2505 MHz (194.9/389.9 TFLOPS); 16 GB GDDR6X 256-bit 22.4 Gbps = 716.8 GB/s; 320 W; "
         "price: launch MSRP"),
    _gpu("rtx-4090", "RTX 4090", 24, 1008, 330.3, 450, 1599,
         f"{_ADA}: 128 SMs, 2520 MHz (330.3/660.6 TFLOPS); 24 GB GDDR6X 384-bit 21 Gbps = 1008 GB/s; 450 W; "
         "price: launch MSRP"),
    _gpu("rtx-4090d", "RTX 4090 D", 24, 1008, 294.2, 425, None,
         f"{_ADA} rates for 114 SMs x 1024 x 2.52 GHz (NVIDIA China product page: 14592 CUDA cores, 2520 MHz); "
         "24 GB GDDR6X 21 Gbps = 1008 GB/s; 425 W; price: CNY 12,999 at launch (China only): USD list price unknown"),
    _gpu("rtx-5060-ti-16gb", "RTX 5060 Ti 16GB", 16, 448, 94.9, 180, 429,
         f"{_BW}: 759 AI TOPS; 36 SMs; 16 GB GDDR7 128-bit 28 Gbps = 448 GB/s; 180 W; price: launch MSRP"),
    _gpu("rtx-5070-ti", "RTX 5070 Ti", 16, 896, 175.8, 300, 749,
         f"{_BW}: 1406 AI TOPS; 70 SMs; 16 GB GDDR7 256-bit 28 Gbps = 896 GB/s; 300 W; price: launch MSRP"),
    _gpu("rtx-5080", "RTX 5080", 16, 960, 225.1, 360, 999,
         f"{_BW}: 1801 AI TOPS; 84 SMs; 16 GB GDDR7 256-bit 30 Gbps = 960 GB/s; 360 W; price: launch MSRP"),
    _gpu("rtx-5090", "RTX 5090", 32, 1792, 419.0, 575, 1999,
         f"{_BW}: 3352 AI TOPS; 170 SMs x 1024 x 2.407 GHz; 32 GB GDDR7 512-bit 28 Gbps = 1792 GB/s; 575 W; "
         "price: launch MSRP"),
    # --- NVIDIA workstation / data centre ---
    _gpu("a6000", "RTX A6000", 48, 768, 154.8, 300, 4650,
         "NVIDIA RTX A6000 datasheet: 48 GB GDDR6 ECC, 768 GB/s, 300 W, tensor 309.7 TFLOPS sparse -> 154.8 dense; "
         "price: NVIDIA list price at launch"),
    _gpu("rtx-4000-ada", "RTX 4000 Ada", 20, 360, 81.8, 130, 1250,
         "NVIDIA RTX 4000 Ada datasheet: 20 GB GDDR6 160-bit = 360 GB/s, 130 W, 327 AI TOPS (FP8 sparse) -> "
         "81.8 TFLOPS FP16 dense; price: NVIDIA list price at launch"),
    _gpu("rtx-5000-ada", "RTX 5000 Ada", 32, 576, 261.0, 250, 4000,
         "NVIDIA RTX 5000 Ada datasheet: 32 GB GDDR6 256-bit = 576 GB/s, 250 W, 1044 AI TOPS (FP8 sparse) -> "
         "261 TFLOPS FP16 dense; price: NVIDIA list price at launch"),
    _gpu("rtx-6000-ada", "RTX 6000 Ada", 48, 960, 364.2, 300, 6800,
         "NVIDIA RTX 6000 Ada datasheet: 48 GB GDDR6 384-bit = 960 GB/s, 300 W, 1457 AI TOPS (FP8 sparse) -> "
         "364 TFLOPS FP16 dense (142 SMs x 1024 x 2.505 GHz); price: NVIDIA list price at launch"),
    _gpu("rtx-pro-6000", "RTX PRO 6000 Blackwell", 96, 1792, 503.8, 600, 8565,
         "NVIDIA RTX PRO 6000 Blackwell Workstation datasheet: 96 GB GDDR7 ECC 512-bit, 1792 GB/s, 600 W, "
         "4000 AI TOPS (FP4 sparse) -> 500 TFLOPS FP16 dense (188 SMs x 1024 x 2.617 GHz = 503.8); "
         "price: reported launch price"),
    _gpu("rtx-pro-6000-max-q", "RTX PRO 6000 Blackwell Max-Q", 96, 1792, 440.4, 300, 8565,
         "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition: the same GB202 with 188 SMs and 96 GB GDDR7 "
         "512-bit, 1792 GB/s, at 300 W (fixstars blog, 2025-09-04, from NVIDIA's datasheet); boost 2.288 GHz and "
         "110.1 TFLOPS FP32 = 24064 x 2 x 2.288 (technical.city spec table) -> 440.4 TFLOPS FP16 dense "
         "(188 SMs x 1024 x 2.288 GHz, the Workstation Edition's formula); price: the reported launch price"),
    _gpu("a10", "A10", 24, 600, 125.0, 150, None,
         "NVIDIA A10 datasheet: 24 GB GDDR6 = 600 GB/s, 150 W, FP16 tensor 125 TFLOPS dense (250 sparse); "
         "price: unknown (sold through partners)"),
    _gpu("a40", "A40", 48, 696, 149.7, 300, None,
         "NVIDIA A40 datasheet: 48 GB GDDR6 = 696 GB/s, 300 W, FP16 tensor 149.7 TFLOPS dense (299.4 sparse); "
         "price: unknown (sold through partners)"),
    _gpu("l40s", "L40S", 48, 864, 362.1, 350, None,
         "NVIDIA L40S datasheet: 48 GB GDDR6 ECC, 864 GB/s, 350 W, FP16 tensor 362.05 TFLOPS dense (733 sparse); "
         "price: unknown (sold through partners, no list price)"),
    _gpu("a100-40gb", "A100 40GB SXM", 40, 1555, 312, 400, None, "NVIDIA A100 datasheet; price: unknown (not sold at list)"),
    _gpu("a100-80gb", "A100 80GB SXM", 80, 2039, 312, 400, None, "NVIDIA A100 datasheet; price: unknown (not sold at list)"),
    _gpu("a100-80gb-pcie", "A100 80GB PCIe", 80, 1935, 312, 300, None,
         "NVIDIA A100 datasheet (80 GB PCIe: 1935 GB/s, 300 W, FP16 tensor 312 TFLOPS dense); price: unknown"),
    _gpu("h100-pcie", "H100 PCIe 80GB", 80, 2000, 756.0, 350, None,
         "NVIDIA H100 datasheet (PCIe: 80 GB HBM2e, 2 TB/s, 350 W, FP16 tensor 1513 TFLOPS sparse -> 756 dense); "
         "price: unknown"),
    _gpu("h100", "H100 SXM 80GB", 80, 3350, 989.4, 700, None,
         "NVIDIA H100 datasheet (SXM5: 3.35 TB/s, FP16 tensor 1979 TFLOPS sparse -> 989 dense); price: unknown"),
    _gpu("h200", "H200 SXM 141GB", 141, 4800, 989.4, 700, None,
         "NVIDIA H200 datasheet (4.8 TB/s, 141 GB HBM3e, FP16 tensor as H100); price: unknown"),
    # --- AMD ---
    _gpu("rx-7900-xt", "Radeon RX 7900 XT", 20, 800, 103.0, 315, 899,
         "AMD Radeon RX 7900 XT product page: 20 GB GDDR6 320-bit 20 Gbps = 800 GB/s, 315 W, peak half precision "
         "103 TFLOPS; price: launch MSRP", backend="rocm"),
    _gpu("rx-7900-xtx", "Radeon RX 7900 XTX", 24, 960, 122.8, 355, 999,
         "AMD Radeon RX 7900 XTX product page: 24 GB GDDR6 384-bit 20 Gbps = 960 GB/s, 355 W board power, peak "
         "half precision 122.8 TFLOPS (96 CUs x 512 FLOP/clk x 2.5 GHz, WMMA); price: launch MSRP", backend="rocm"),
    _gpu("radeon-pro-w7800", "Radeon PRO W7800", 32, 576, 90.5, 260, 2499,
         "AMD Radeon PRO W7800 product page: 70 CUs, 32 GB GDDR6 256-bit 18 Gbps = 576 GB/s, 260 W, peak half "
         "precision 90.5 TFLOPS; price: launch MSRP", backend="rocm"),
    _gpu("radeon-ai-pro-r9700", "Radeon AI PRO R9700", 32, 640, 191.4, 300, 1299,
         "AMD Radeon AI PRO R9700 product page: RDNA 4 (Navi 48) 64 CUs, 32 GB GDDR6 256-bit 20 Gbps = 640 GB/s, 300 W "
         "board power; FP16 matrix dense = 64 CUs x 1024 FLOP/clk x 2.92 GHz; price: launch price as reported",
         backend="rocm"),
    _gpu("mi100", "Instinct MI100", 32, 1228.8, 184.6, 300, None,
         "AMD Instinct MI100 datasheet: 32 GB HBM2, 1.2288 TB/s, 300 W, FP16 matrix 184.6 TFLOPS; price: unknown",
         backend="rocm"),
    _gpu("mi300x", "Instinct MI300X", 192, 5300, 1307.4, 750, None,
         "AMD Instinct MI300X datasheet: 192 GB HBM3, 5.3 TB/s, 750 W, FP16 1307.4 TFLOPS dense; price: unknown",
         backend="rocm"),
    # --- unified memory: Apple ---
    _apple("m1-8gb", "M1 8GB (8-core GPU)", 8, 68.25, 2.6, 39, None,
           "Apple M1 (2020): LPDDR4X-4266 128-bit = 68.25 GB/s, 8 GB, 8-core GPU 2.6 TFLOPS (Apple); power: Mac mini "
           "(M1) max 39 W; price: configuration-dependent, unknown", 8),
    _apple("m1-max-64gb", "M1 Max 64GB (32-core GPU)", 64, 400, 10.4, 140, None,
           "Apple M1 Max (2021): 400 GB/s, up to 64 GB, 32-core GPU 10.4 TFLOPS (Apple); power: the MacBook Pro 16's "
           "140 W adapter (no TDP published); price: configuration-dependent, unknown", 10),
    _apple("m1-ultra-128gb", "Mac Studio M1 Ultra 128GB (64-core GPU)", 128, 800, 21.2, 370, None,
           "Apple Mac Studio (2022) tech specs: M1 Ultra, 800 GB/s, up to 128 GB, 370 W max continuous power; "
           "price: build-to-order configuration, unknown", 20),
    _apple("m2-ultra-192gb", "Mac Studio M2 Ultra 192GB (76-core GPU)", 192, 800, 27.2, 295, None,
           "Apple Mac Studio (2023) tech specs: M2 Ultra, 800 GB/s, up to 192 GB, 295 W max continuous power; "
           "price: build-to-order configuration, unknown", 24),
    _apple("m3-max-64gb", "M3 Max 64GB (40-core GPU)", 64, 400, 14.1, 140, None,
           "Apple MacBook Pro (Nov 2023) tech specs: M3 Max 16-core CPU / 40-core GPU (the 64 GB option), 400 GB/s; "
           "power: 140 W adapter (no TDP published); price: configuration-dependent, unknown", 16),
    _apple("m3-max-128gb", "MacBook Pro M3 Max 128GB (40-core GPU)", 128, 400, 14.1, 140, None,
           "Apple MacBook Pro (Nov 2023) tech specs: M3 Max 16-core CPU / 40-core GPU, 400 GB/s, up to 128 GB; "
           "power: USB-C 140 W adapter; price: build-to-order configuration, unknown", 16),
    _apple("m4-max-128gb", "Mac Studio M4 Max 128GB (40-core GPU)", 128, 546, 16.2, 240, 3699,
           "Apple Mac Studio (2025) tech specs: M4 Max 16-core CPU / 40-core GPU, 546 GB/s, up to 128 GB; "
           "price: Apple list price of a 128 GB configuration", 16),
    _apple("m3-ultra-512gb", "Mac Studio M3 Ultra 512GB (80-core GPU)", 512, 819, 28.3, 270, 9499,
           "Apple Mac Studio (2025) tech specs: M3 Ultra 32-core CPU / 80-core GPU, 819 GB/s, 512 GB; 270 W max "
           "continuous power; price: Apple list price of the 512 GB configuration", 32),
    # --- unified memory: AMD Strix Halo, NVIDIA GB10 ---
    DeviceSpec("ryzen-ai-max-395-128gb", "Ryzen AI Max+ 395 128GB (Radeon 8060S)", "unified", 128 * GiB, 256 * GB,
               59.4e12, 120, 1999,
               "AMD Ryzen AI Max+ 395 product page: 16 cores, Radeon 8060S 40 CUs up to 2.9 GHz, LPDDR5X-8000 256-bit "
               "= 256 GB/s, cTDP 45-120 W; FP16 = 40 CUs x 512 FLOP/clk x 2.9 GHz = 59.4 TFLOPS (RDNA 3.5 WMMA); "
               "price: Framework Desktop 128 GB list price", "vulkan", 0.5,
               "Linux: the GPU uses its BIOS carve-out plus GTT (system RAM mapped for the GPU), by default about half "
               "of RAM (ROCm 'Strix Halo system optimization' guide); kernel parameters ttm.pages_limit / "
               "amdgpu.gttsize raise GTT to ~120 GB: give `120GB gpu` in --hw", 16),
    DeviceSpec("dgx-spark", "NVIDIA DGX Spark (GB10)", "unified", 128 * GiB, 273 * GB, 125e12, 240, 3999,
               "NVIDIA DGX Spark product page / hardware guide: GB10 Grace Blackwell, 6144 CUDA cores, 128 GB LPDDR5x "
               "unified, 273 GB/s, 1 PFLOP FP4 with sparsity -> 125 TFLOPS FP16 dense (/2 dense, /4 FP4->FP16), "
               "240 W power supply (GB10 ~140 W); price: Founders Edition list price", "cuda", 0.9,
               "CUDA allocates from the whole coherent 128 GB pool; 10% is left to DGX OS and other processes "
               "(assumed): give `NGB gpu` in --hw to change it", 20),

]}

DEVICE_ALIASES = {
    "3090": "rtx-3090", "3090-ti": "rtx-3090-ti", "3090ti": "rtx-3090-ti", "rtx-3090ti": "rtx-3090-ti",
    "4090": "rtx-4090", "5090": "rtx-5090", "a100": "a100-80gb", "h100-sxm": "h100", "h200-sxm": "h200",
    # as nvidia-smi names them ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB"), for --hw local
    "h100-80gb-hbm3": "h100", "h100-sxm5-80gb": "h100", "a100-sxm4-80gb": "a100-80gb",
    # the CUDA device names (nvidia-smi, llama.cpp's device list) of the RTX PRO 6000 editions
    "rtx-pro-6000-blackwell-workstation-edition": "rtx-pro-6000", "rtx-pro-6000-blackwell-server-edition": "rtx-pro-6000",
    "rtx-pro-6000-blackwell-max-q-workstation-edition": "rtx-pro-6000-max-q",
    "pro-6000": "rtx-pro-6000", "rtx-6000-pro": "rtx-pro-6000", "m3-ultra": "m3-ultra-512gb",
    "mac-studio-m3-ultra": "m3-ultra-512gb", "m4-max": "m4-max-128gb", "rtx-4090-d": "rtx-4090d",
    "2080": "rtx-2080", "2080-ti": "rtx-2080-ti", "2080ti": "rtx-2080-ti", "rtx-2080ti": "rtx-2080-ti",
    "3060": "rtx-3060-12gb", "rtx-3060": "rtx-3060-12gb", "3080": "rtx-3080", "rtx-3080-10gb": "rtx-3080",
    "4060-ti": "rtx-4060-ti-16gb", "rtx-4060-ti": "rtx-4060-ti-16gb", "4070-ti-super": "rtx-4070-ti-super",
    "4080": "rtx-4080", "5060-ti": "rtx-5060-ti-16gb", "rtx-5060-ti": "rtx-5060-ti-16gb", "5070-ti": "rtx-5070-ti",
    "5080": "rtx-5080", "rtx-a6000": "a6000", "7900-xtx": "rx-7900-xtx", "7900xtx": "rx-7900-xtx",
    "radeon-rx-7900-xtx": "rx-7900-xtx", "mi300": "mi300x", "m1-ultra": "m1-ultra-128gb", "m2-ultra": "m2-ultra-192gb",
    "m3-max": "m3-max-128gb", "gb10": "dgx-spark", "spark": "dgx-spark", "strix-halo": "ryzen-ai-max-395-128gb",
    "ryzen-ai-max-395": "ryzen-ai-max-395-128gb", "ryzen-ai-max+-395": "ryzen-ai-max-395-128gb",
    "ai-max-395": "ryzen-ai-max-395-128gb", "8060s": "ryzen-ai-max-395-128gb", "rtx-pro-6000-blackwell": "rtx-pro-6000",
    "rtx-pro-6000-blackwell-max-q": "rtx-pro-6000-max-q", "pro-6000-max-q": "rtx-pro-6000-max-q",
    "3080-ti": "rtx-3080-ti", "4070-ti": "rtx-4070-ti", "a100-pcie": "a100-80gb-pcie", "h100-80gb-pcie": "h100-pcie",
    "6000-ada": "rtx-6000-ada", "r9700": "radeon-ai-pro-r9700", "w7800": "radeon-pro-w7800", "m1": "m1-8gb", "m1-max": "m1-max-64gb",
}


@dataclass(frozen=True)
class HostSpec:
    """A CPU-only board: `--hw <key>` stands for its spec parts (later parts override them: `, 16GB`)."""

    key: str
    name: str
    spec: str  # the --hw parts it stands for
    cores: str  # the core clusters, big to little
    source: str
    power_w: float | None = None  # the whole board at the wall while llama-bench runs (measured, see power_source)
    price_usd: float | None = None  # as tested
    power_source: str = ""


_RADXA_DOCS = "Radxa docs, {board} README spec table (github.com/radxa-docs/docs)"
HOSTS: dict[str, HostSpec] = {h.key: h for h in [
    HostSpec("radxa-dragon-q8b", "Radxa Dragon Q8B (Qualcomm Snapdragon 8cx Gen 3, SC8280XP), 8GB",
             "0x, 8GB lpddr4x-4266 128-bit, 8 cores, neon",
             "4x Kryo Prime @3.0 GHz + 4x Kryo Gold @2.4 GHz (Cortex-X1C @2.995 + Cortex-A78C @2.438 in sbc-bench)",
             _RADXA_DOCS.format(board="dragon/q8b") + ": 8 cores, LPDDR4X up to 4266 MT/s on a 128-bit bus "
             "(8 channels x 16-bit), up to 32GB; cores as measured by sbc-bench "
             "(github.com/ThomasKaiser/sbc-bench/issues/141); 8GB as tested (github.com/geerlingguy/sbc-reviews/issues/108)",
             23.7, 209.0, "23.7 W average during llama-bench of TinyLlama 1.1B on the CPU "
             "(github.com/geerlingguy/ai-benchmarks/issues/54); $209 as tested (sbc-reviews #108)"),
    HostSpec("radxa-dragon-q6a", "Radxa Dragon Q6A (Qualcomm QCS6490), 8GB", "0x, 8GB lpddr5, 8 cores, 4 little, neon",
             "1x Kryo Gold Plus @2.7 GHz + 3x Kryo Gold @2.4 GHz + 4x Kryo Silver @1.9 GHz (Cortex-A78 / A55)",
             _RADXA_DOCS.format(board="dragon/q6a") + ": QCS6490, LPDDR5 4-16GB; the LPDDR5 speed and bus width "
             "are not stated there (the plan assumes them and says so); 8GB as tested "
             "(github.com/geerlingguy/sbc-reviews/issues/85)",
             7.8, 141.39, "7.8 W during llama-bench of TinyLlama 1.1B on the CPU (github.com/geerlingguy/sbc-reviews/"
             "issues/85); $141.39 as tested (geerlingguy/sbc-reviews web/data/results.yml)"),
]}


def closest(name: str, n: int = 4) -> list[str]:
    """The known device ids nearest to a name (difflib), for 'did you mean' messages."""
    return difflib.get_close_matches(name.lower(), list(DEVICES) + list(DEVICE_ALIASES) + list(HOSTS), n=n,
                                     cutoff=0.5)


# System RAM: peak = MT/s x 8 bytes (64-bit channel) x channels (JEDEC DDR4/DDR5 arithmetic).
# LPDDR: the JEDEC top speed of the generation (LPDDR4 3200, LPDDR4X 4266, LPDDR5 6400, LPDDR5X 8533);
# its 16-bit channels are counted as 64-bit ones in --hw (`128-bit` = 2ch)
RAM_DEFAULTS = {"ddr3": 1600, "ddr4": 3200, "ddr5": 5600, "lpddr4": 3200, "lpddr4x": 4266, "lpddr5": 6400,
                "lpddr5x": 8533}

# Links: usable one-direction bandwidth of an x16 link after 128b/130b coding (PCI-SIG spec), and NVLink.
LINKS: dict[str, tuple[float, str]] = {
    "pcie3": (15.75 * GB, "PCIe 3.0 x16: 8 GT/s x 16 lanes x 128/130 (PCI-SIG)"),
    "pcie4": (31.5 * GB, "PCIe 4.0 x16: 16 GT/s x 16 lanes x 128/130 (PCI-SIG)"),
    "pcie5": (63.0 * GB, "PCIe 5.0 x16: 32 GT/s x 16 lanes x 128/130 (PCI-SIG)"),
    "nvlink3": (300 * GB, "NVLink 3 (A100): 600 GB/s total, 300 GB/s per direction (NVIDIA datasheet)"),
    "nvlink4": (450 * GB, "NVLink 4 (H100/H200 SXM): 900 GB/s total, 450 GB/s per direction (NVIDIA datasheet)"),
    "nvlink-bridge": (56.25 * GB, "RTX 3090 NVLink bridge: 112.5 GB/s total (NVIDIA)"),
}


def describe(d: DeviceSpec) -> dict:
    """One device as `plan --list-hardware` prints it (and its --json)."""
    return {"id": d.key, "name": d.name, "kind": d.kind, "backend": d.backend, "memory_gib": d.memory_bytes / GiB,
            "gpu_share": d.gpu_share, "bandwidth_gbs": d.bandwidth_bps / GB, "fp16_tflops": d.fp16_flops / 1e12,
            "tdp_w": d.tdp_w, "price_usd": d.price_usd, "source": d.source, "share_note": d.share_note,
            "cuda_cc": d.cuda_cc, "l2_mib": d.l2_bytes / 1024**2 if d.l2_bytes else None}


def print_devices(as_json: bool = False) -> None:
    """`heavylift plan --list-hardware`: every device with its figures and their source."""
    rows = [describe(d) for d in DEVICES.values()]
    if as_json:
        import json

        print(json.dumps(rows, indent=2))
        return
    print(f"{'ID':24} {'BACKEND':7} {'MEMORY':>9} {'GPU USE':>8} {'BW GB/s':>8} {'FP16 TF':>8} {'POWER':>6} {'PRICE':>8}  NAME")
    for r in rows:
        price = f"${r['price_usd']:,.0f}" if r["price_usd"] else "unknown"
        share = f"{r['gpu_share']:.0%}" if r["kind"] == "unified" else "-"
        print(f"{r['id']:24} {r['backend']:7} {r['memory_gib']:>5.0f} GiB {share:>8} {r['bandwidth_gbs']:>8.0f} "
              f"{r['fp16_tflops']:>8.1f} {r['tdp_w']:>5.0f}W {price:>8}  {r['name']}")
    print("\nFP16 TF: dense FP16 tensor TFLOPS with FP16 accumulate (Apple: the FP32 ALU rate); BW: peak memory "
          "bandwidth; GPU USE: the share of unified memory the GPU may use by default.\nsources:")
    for r in rows:
        print(f"  {r['id']}: {r['source']}" + (f"; GPU share: {r['share_note']}" if r["share_note"] else ""))
    print("aliases: " + ", ".join(f"{a}={k}" for a, k in sorted(DEVICE_ALIASES.items())))
    print("\nCPU-only boards (`--hw ID` stands for the spec shown; add parts to override, e.g. `, 16GB`):")
    for h in HOSTS.values():
        price = f", ${h.price_usd:g}" if h.price_usd else ""
        power = f"; {h.power_w:g} W{price} ({h.power_source})" if h.power_w else ""
        print(f"  {h.key}: {h.spec}  -- {h.name}; cores: {h.cores}; source: {h.source}{power}")
