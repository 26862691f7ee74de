"""NVIDIA chips behind the catalog's CUDA devices: compute capability and L2 cache size.

The speed model needs both for one kernel choice: llama.cpp's CUDA flash-attention decode picks its
vector kernel or its matrix-core kernel by compute capability (ggml/src/ggml-cuda/fattn.cu
`ggml_cuda_get_best_fattn_kernel`), and the vector kernel reads a KV head's cache once per query
head of its group, which reaches DRAM or not depending on the L2 (plan/speed_decode.py
`cuda_kv_reads`). Values: L2 and compute capability per die from NVIDIA's architecture whitepapers
(Turing TU102/TU104, Ampere GA102 and A100, Ada Lovelace AD102-AD106, Hopper H100, RTX Blackwell
GB202-GB206; the CUDA C Programming Guide's table of compute capabilities), the cut-down parts'
L2 as those whitepapers' per-product tables list it. None (unknown) where no source states it: the
speed model then leaves the effect out and the plan does not pretend to know it.
"""

from __future__ import annotations

_TURING = "Turing whitepaper"
_AMPERE = "Ampere GA102 whitepaper (GA102 6 MB, GA104 4 MB, GA106 3 MB; RTX 3080 10GB: 5 MB)"
_ADA = "Ada Lovelace whitepaper (AD102 96 MB full, RTX 4090 72 MB; AD103 64 MB; AD104 48 MB; AD106 32 MB)"
_BLACKWELL = "RTX Blackwell whitepaper (GB202 128 MB full, RTX 5090 96 MB; GB203 64 MB, RTX 5070 Ti 48 MB; GB206 32 MB)"

# device key -> (compute capability, L2 MiB or None, source)
CHIPS: dict[str, tuple[float, float | None, str]] = {
    "rtx-2080": (7.5, 4, _TURING), "rtx-2080-ti": (7.5, 5.5, _TURING),
    "rtx-3060-12gb": (8.6, 3, _AMPERE), "rtx-3070": (8.6, 4, _AMPERE), "rtx-3080": (8.6, 5, _AMPERE),
    "rtx-3080-ti": (8.6, 6, _AMPERE), "rtx-3090": (8.6, 6, _AMPERE), "rtx-3090-ti": (8.6, 6, _AMPERE),
    "a6000": (8.6, 6, _AMPERE), "a10": (8.6, 6, _AMPERE), "a40": (8.6, 6, _AMPERE),
    "a100-40gb": (8.0, 40, "A100 whitepaper"), "a100-80gb": (8.0, 40, "A100 whitepaper"),
    "a100-80gb-pcie": (8.0, 40, "A100 whitepaper"),
    "rtx-4060-ti-16gb": (8.9, 32, _ADA), "rtx-4070-ti": (8.9, 48, _ADA), "rtx-4070-ti-super": (8.9, 48, _ADA),
    "rtx-4080": (8.9, 64, _ADA), "rtx-4090": (8.9, 72, _ADA), "rtx-4090d": (8.9, 72, _ADA),
    "rtx-4000-ada": (8.9, None, _ADA), "rtx-5000-ada": (8.9, None, _ADA), "rtx-6000-ada": (8.9, 96, _ADA),
    "l40s": (8.9, 96, _ADA),
    "h100-pcie": (9.0, 50, "H100 whitepaper"), "h100": (9.0, 50, "H100 whitepaper"), "h200": (9.0, 50, "H100 whitepaper"),
    "rtx-5060-ti-16gb": (12.0, 32, _BLACKWELL), "rtx-5070-ti": (12.0, 48, _BLACKWELL),
    "rtx-5080": (12.0, 64, _BLACKWELL), "rtx-5090": (12.0, 96, _BLACKWELL),
    "rtx-pro-6000": (12.0, 128, _BLACKWELL), "rtx-pro-6000-max-q": (12.0, 128, _BLACKWELL),
    "dgx-spark": (12.1, None, "DGX Spark hardware guide (GB10, compute capability 12.1; L2 not stated)"),
}
