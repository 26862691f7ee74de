"""The speed model's own constants: per llama.cpp backend (cuda, rocm, vulkan, metal) and for the CPU.

`SpeedParams.fitted()` is what the planner uses: the values in `plan/data/speed_params.json`,
written by `python -m heavylift.plan.speed_fit` from the `split=fit` rows of the public measurement
set (`plan/data/public_measurements.csv`) and, for the CPU per-core rates, from llama-bench runs
on the dev VM. The JSON keeps, per constant, where it came from (`sources`). A calibrated machine
profile is a SpeedParams too (`Rig.speed_params`): the same fields, fitted to one machine.
The dataclass defaults below are the priors the fit starts from (and falls back to for a backend
without rows), each with its reason.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

PARAMS_FILE = Path(__file__).parent / "data" / "speed_params.json"


@dataclass
class BackendParams:
    """One GPU backend's constants. Times in seconds; efficiencies are fractions of the device's peak."""

    # decode: achieved fraction of peak memory bandwidth when a token reads the weights
    # (quantized mat-vec kernels; prior 0.75: typical of CUDA mmvq at batch 1)
    bw_eff: float = 0.75
    # decode: achieved fraction of peak bandwidth reading the KV cache (attention over the context)
    kv_eff: float = 0.5
    # decode: fixed cost per token (graph build and launch, synchronisation, sampling on the host)
    token_s: float = 0.5e-3
    # decode: fixed cost per layer per token (a dozen small kernels: norms, rope, softmax, adds)
    layer_s: float = 20e-6
    # decode: extra fixed cost per MoE layer (router matmul, top-k / argsort, mul_mat_id dispatch)
    moe_layer_s: float = 40e-6
    # a hop between devices or backends (GPU -> CPU -> GPU for experts in RAM, a layer-split boundary):
    # a copy plus a synchronisation
    hop_s: float = 30e-6
    # prefill: dense matmul efficiency at saturation, as a fraction of the FP16 tensor peak
    mm_eff: float = 0.5
    # prefill: mul_mat_id (experts) efficiency at saturation
    moe_mm_eff: float = 0.35
    # prefill: tokens per dense matmul (the ubatch) at which it reaches half its saturated efficiency
    half_tokens: float = 64.0
    # prefill: achieved fraction of peak bandwidth when mul_mat_id streams the touched experts' rows
    # once per ubatch (MMQ's tile loads, not decode's mat-vec reads: its own constant, so that prefill
    # rows do not move decode's bw_eff; prior: bw_eff's)
    moe_read_eff: float = 0.75
    # prefill: mul_mat_id's fixed cost per weight tile, in tokens per expert: at t tokens per expert
    # (ubatch x n_expert_used / n_expert) it runs at t / (t + moe_half_tokens) of moe_mm_eff
    # (plan/speed_prefill.gpu_moe_flops; prior 16: a few MMQ columns' worth of MMA per tile load)
    moe_half_tokens: float = 16.0
    # prefill: attention FLOPs efficiency (flash attention on) as a fraction of the FP16 tensor peak
    attn_eff: float = 0.25
    # prefill: flash attention on the tile kernel (AMD RDNA without the matrix-core kernel: MHA and MLA
    # models, older builds; plan/speed_prefill.fa_on_tile), a fraction of the FP16 tensor peak (prior:
    # a fifth of attn_eff's prior, the plain ALUs against the matrix cores)
    attn_tile_eff: float = 0.05
    # prefill without flash attention: the GPU's ubatch time is this much longer (the KQ scores are
    # materialised in F32 and soft-maxed as separate ops; measured slower than FA even at depth 0)
    nofa_prefill_factor: float = 1.0
    # decode: attention's arithmetic over the cache (plan/speed_work.py attn_flops: 2 x query heads x
    # (K + V width) per cached token) as a fraction of the FP16 peak. Overlaps the cache reads (the
    # larger counts); it shows where many query heads share a narrow cache: MLA (DeepSeek, Kimi K2,
    # GLM-4.7-Flash: 576-wide latent, one KV head for 20-128 query heads). Prior 0.1: the vector
    # kernels run on the plain ALUs (ggml-cuda/fattn-vec.cuh, ggml-metal kernels/fa_vec_common.metal)
    dec_attn_eff: float = 0.1
    # decode, CUDA: the share of flash attention's repeated KV reads (the vector kernel reads a KV
    # head's cache once per query head of its group, plan/speed_decode.cuda_kv_reads) that reach DRAM
    # on a chip with a small L2 (under SMALL_L2_BYTES: Turing, Ampere GA10x); prior 1: no reuse
    vec_kv_miss: float = 1.0
    # prefill: how a GPU's reachable matmul/attention rate grows with its tensor peak: rate =
    # REF_TENSOR_FLOPS x (peak / REF_TENSOR_FLOPS) ** size_exp (plan/speed_prefill.tensor_rate).
    # Prior 1: in proportion to the peak. Fitted: the same model, build and flags on 8 NVIDIA cards
    # (the gpt-oss guide rows) reach 36-40 tok/s per peak TFLOPS on 95-180 TFLOPS cards and 22-24 on
    # 330-500 TFLOPS ones; the dense rows of another source show the same trend. Empirical: why
    # (clocks under sustained load, power per SM, kernel occupancy) is not established
    size_exp: float = 1.0
    # prefill: fixed cost per layer per ubatch
    ubatch_layer_s: float = 50e-6
    # prefill: achieved fraction of the host link when weights in RAM are streamed to the GPU
    link_eff: float = 0.8
    # a recurrent (gated delta-net / SSM) layer's extra fixed cost: per token in decode, and per
    # token of a ubatch in prefill (the chunked delta rule runs many small ops)
    recurrent_layer_s: float = 50e-6
    recurrent_token_s: float = 2e-6
    # decode: HBM devices (A100, H100, MI300X) reach a lower fraction of their peak in llama.cpp's
    # mat-vec kernels than GDDR/LPDDR ones (more bytes must be in flight to fill HBM)
    hbm_factor: float = 0.8


@dataclass
class CpuParams:
    """The host CPU's constants (CPU-only rigs, layers and experts kept in RAM)."""

    # achieved fraction of theoretical RAM bandwidth (channels x MT/s x 8 B) reading weights
    bw_eff: float = 0.6
    # a second socket adds this fraction of one socket's bandwidth (NUMA: llama.cpp does not
    # place tensors per node, so most reads cross the interconnect; prior 0.3)
    numa_gain: float = 0.3
    # per-core compute ceilings, measured on the dev VM (see plan/data/speed_params.json sources)
    decode_bps_per_core: float = 6.2e9  # weight bytes/s one core's mat-vec kernels get through
    # decode: experts gathered by mul_mat_id are read from RAM at this fraction of the dense weights'
    # streaming rate (a few MB-sized slices per token, not one sequential stream); where the cores,
    # not RAM, bound the read, the experts run the same vec_dot kernels as dense weights
    expert_eff: float = 0.66
    # decode: fixed cost per MoE layer whose experts run here (router softmax, top-k, gathers and the
    # weighted sum: a dozen small graph nodes, each ended by a barrier of all threads; barriers cost
    # what the thread count makes them cost, so a calibration does not scale this with core speed)
    moe_layer_s: float = 20e-6
    kv_bps_per_core: float = 2.9e9  # KV bytes/s per core, flash attention off
    # decode with flash attention: attention FLOP/s per thread (2 x n_head x (d_k + d_v) per cached
    # token). ggml-cpu ops.cpp ggml_compute_forward_flash_attn_ext_f16_one_chunk walks one KV position
    # at a time per query head (online softmax, scalar expf): every query head of a GQA group redoes
    # the work, so the cost follows the query heads, not the KV bytes. Threads: all cores when K and
    # V are F16/F32 and >= 512 tokens are cached (the split-KV path, llama.cpp PR #19209), otherwise
    # (quantized KV, V rows converted by v_to_float) one query head per thread: min(cores, n_head).
    # Prior 5 GFLOP/s: the dev VM's calibrated f16 rate, 1.25-1.38 GB/s of KV per core for
    # SmolLM2-135M (GQA 3: 3 FLOPs per KV byte), ~4 GFLOP/s.
    fa_flops_per_core: float = 5e9
    prefill_flops_per_core: float = 50e9  # matmul FLOP/s per core
    attn_nofa_eff: float = 0.6  # attention FLOPs without flash attention, relative to matmul
    # prefill attention with flash attention, relative to matmul: the tiled kernel (ops.cpp
    # ggml_compute_forward_flash_attn_ext_tiled, llama.cpp PR #19012) when K and V are F16/F32 ...
    # Prior 0.2 for both: neither is a GEMM; the PR's profile puts the tiled kernel's time in
    # ggml_vec_dot_f16, ggml_vec_mad_f32 and ggml_lookup_f16_to_f32, the row kernel's own loop
    attn_fa_eff: float = 0.2
    # ... and the one-query-row kernel (one_chunk above) otherwise: quantized KV, and every build
    # before that PR (2026-01-22)
    attn_fa_vec_eff: float = 0.2
    # prefill: mul_mat_id multiplies each expert by the tokens routed to it (u x k / n_expert of a
    # u-token ubatch); its FLOP rate relative to a dense matmul of the same ubatch is
    # t/(t + h) / (u/(u + h)) at t tokens per expert: h is the tokens per expert at half the rate
    moe_half_tokens: float = 32.0
    recurrent_layer_s: float = 200e-6  # a recurrent layer's extra cost per token (decode)
    # fixed cost per layer per token on the CPU (thread barriers between ops)
    layer_s: float = 10e-6
    # The per-core rates above describe the x86 desktop and server cores (AVX2 / AVX-512) of most
    # rows. An Arm core with NEON (`neon` in --hw, not a unified SoC's) computes at these fractions
    # of them: decode (weight bytes/s, KV and attention rates) and prefill (matmul FLOP/s). Prior
    # 0.25 = SIMD width x clock: NEON's 2 x 128-bit FMA pipes against AVX2's 2 x 256-bit
    # (hardware/spec.py FLOP_PER_CYCLE 16 vs 32), at the 2.0-3.0 GHz of SBC and laptop Arm cores
    # against the 4.5-5.7 GHz boost of the desktop cores the per-core rates come from (Ryzen 9 7950X,
    # Threadripper PRO 5975WX rows): 0.5 x 2.5 / 5.0.
    neon_decode_scale: float = 0.25
    neon_prefill_scale: float = 0.25
    # an efficiency core (`4 little` in --hw: Arm LITTLE such as Cortex-A55/A520, Intel E-cores) computes
    # at this fraction of a big core's rate. Prior 0.3: a 64-bit SIMD datapath (128-bit ops at half
    # rate), in order, at ~0.75 of the big cores' clock. Threads fill the big cores first.
    little_core_share: float = 0.3


# Weight types by the matmul kernels llama.cpp runs for them: F16/BF16 (cuBLAS / mul_mm f16), Q8_0,
# legacy 32-blocks (Q4_0..Q5_1, IQ4_NL, MXFP4), K-quants (the reference, factor 1), IQ4_XS (a 16-value
# non-linear table per 32 weights, K-quant-like cost) and the i-quants below 4 bits (IQ1_S..IQ3_M:
# lattice codebooks, grid lookups and sign tables per 8 weights, several times the CPU work per byte).
QUANT_FAMILIES = ("f16", "q8", "q4", "k", "iq4", "iq")


def quant_family(ftype: str | None) -> str:
    name = (ftype or "").upper()
    if name in ("F16", "BF16", "F32"):
        return "f16"
    if name.startswith("Q8"):
        return "q8"
    if name.startswith(("Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", "MXFP4")):
        return "q4"
    if name.startswith("IQ4"):
        return "iq4"
    if name.startswith("IQ"):
        return "iq"
    return "k"


# Weight types whose CPU matmuls have no batched kernel in the pinned engine: no repacked layout
# (ggml-cpu/repack.cpp ggml_repack_get_optimal_repack_type), no llamafile tinyBLAS (llamafile/sgemm.cpp
# llamafile_sgemm's type switch: F32, BF16, F16, Q8_0, Q4_0, Q5_0, IQ4_NL), no tiled kernel
# (ggml-cpu/tiled/tiled.cpp ggml_tiled_supported: K-quants and IQ2/IQ3/IQ1/IQ4_XS). A dense matmul and
# mul_mat_id then run the same vec_dot over the same 16 x 16 blocks (ggml-cpu.c
# ggml_compute_forward_mul_mat_one_chunk / ..._mul_mat_id_one_chunk), so the experts' FLOP rate does
# not fall with fewer tokens per expert (CpuParams.moe_half_tokens describes the batched kernels).
# Measured here: a 4-expert top-1 upcycle of the Q4_1 default model (128 tokens per expert of a
# 512 ubatch) prefilled at 1.00-1.05x the dense model's speed in three interleaved llama-bench runs
# (2026-11-26, 2-vCPU EPYC VM), where the ramp would say 0.88x.
CPU_VEC_DOT_ONLY = ("Q4_1", "Q5_1")


def cpu_vec_dot_only(ftype: str | None) -> bool:
    return (ftype or "").upper().startswith(CPU_VEC_DOT_ONLY)


# Quant-family priors that a public source gives where no fit row informs the factor.
# cpu.iq decode: llama.cpp's CPU vec_dot kernels for IQ1_S..IQ3_M get through ~0.37 of the weight
# bytes per second that IQ4_XS's do. ggml-org/llama.cpp PR #27402 (bartowski, AVX2), "before" column
# at -ub 8 (the vec_dot path that decode runs, compute-bound there: IQ4_XS gains only 1.17x from ub8
# to ub32), Qwen3.6-27B: IQ4_XS 17.75 t/s at 4.25 bpw; IQ2_S 12.07 at 2.5, IQ2_XS 12.25 at 2.31,
# IQ3_XXS 9.07 at 3.06, IQ3_S 7.95 at 3.44, IQ2_XXS 11.66 at 2.06 bpw: bytes/s ratios 0.40, 0.38,
# 0.37, 0.36, 0.32. ik_llama.cpp PR #154 ("sub-4 bpw i-quants have a terrible CPU performance")
# agrees (~0.4 of Q4_K_S), but is a fork's table and not used.
# cpu.f16 / cpu.q8 decode: a core's mat-vec work is per weight (load, convert or unpack, multiply-add),
# and F16/BF16 (ggml_vec_dot_f16 / _bf16: a conversion and an FMA per weight) and Q8_0
# (ggml_vec_dot_q8_0_q8_0: int8 dot products, no unpacking) cost no more per weight than a K-quant's
# nibble unpacking and scaling. So a core gets through the same weights per second, i.e. more bytes:
# 16 / 4.5 = 3.56x (F16/BF16) and 8.5 / 4.5 = 1.89x (Q8_0) the bytes of Q4_K (4.5 bits per weight).
QUANT_DECODE_PRIORS = {"cpu.iq": 0.37, "cpu.f16": 16 / 4.5, "cpu.q8": 8.5 / 4.5}
PRIOR_SOURCES = {
    "qd.cpu.iq": "prior from a public source, no fit row depends on it: ggml-org/llama.cpp PR #27402 "
                 "(AVX2 -ub 8 table, before column): IQ1_S..IQ3_M vec_dot reach ~0.37 of IQ4_XS's "
                 "weight bytes/s (plan/speed_params.py QUANT_DECODE_PRIORS)",
    "qd.cpu.f16": "prior, no fit row depends on it: the same weights per second per core as Q4_K, so "
                  "16 / 4.5 = 3.56x its bytes (ggml_vec_dot_f16/_bf16 convert and FMA per weight; "
                  "plan/speed_params.py QUANT_DECODE_PRIORS)",
    "qd.cpu.q8": "prior, no fit row depends on it: the same weights per second per core as Q4_K, so "
                 "8.5 / 4.5 = 1.89x its bytes (ggml_vec_dot_q8_0_q8_0: int8 dots, no unpacking; "
                 "plan/speed_params.py QUANT_DECODE_PRIORS)",
}


def _ones() -> dict[str, float]:
    return {f"{dev}.{fam}": 1.0 for dev in ("gpu", "cpu") for fam in QUANT_FAMILIES}


def _decode_priors() -> dict[str, float]:
    return {**_ones(), **QUANT_DECODE_PRIORS}


@dataclass
class SpeedParams:
    backends: dict[str, BackendParams] = field(default_factory=dict)
    cpu: CpuParams = field(default_factory=CpuParams)
    # per weight-type family ("gpu.q4", "cpu.iq", ...): decode multiplies the GPU's bw_eff / the
    # CPU's per-core rate, prefill the matmul efficiencies / the CPU's FLOP rate; K-quants are 1
    quant_decode: dict[str, float] = field(default_factory=_decode_priors)
    quant_prefill: dict[str, float] = field(default_factory=_ones)
    sources: dict[str, str] = field(default_factory=dict)  # "cuda.bw_eff" -> where the value came from
    label: str = "priors"  # "fit on N public rows", "calibrated on <fingerprint>", ...

    def backend(self, name: str) -> BackendParams:
        """The constants of a backend; one without its own fit borrows the closest one's."""
        for key in (name, *_BORROW.get(name, ()), "cuda"):
            if key in self.backends:
                return self.backends[key]
        return BackendParams()

    def qd(self, device: str, family: str) -> float:
        return self.quant_decode.get(f"{device}.{family}", 1.0)

    def qp(self, device: str, family: str) -> float:
        return self.quant_prefill.get(f"{device}.{family}", 1.0)

    def source(self, key: str) -> str:
        return self.sources.get(key, "prior (plan/speed_params.py)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeedParams:
        """Unknown keys are ignored and missing ones take the priors, so older profiles still load."""
        backends = {k: _only(BackendParams, v) for k, v in (d.get("backends") or {}).items()}
        qd, qp = _decode_priors(), _ones()
        qd.update({k: float(v) for k, v in (d.get("quant_decode") or {}).items() if k in qd})
        qp.update({k: float(v) for k, v in (d.get("quant_prefill") or {}).items() if k in qp})
        return cls(backends, _only(CpuParams, d.get("cpu") or {}), qd, qp, dict(d.get("sources") or {}),
                   str(d.get("label", "custom")))

    @classmethod
    def priors(cls) -> SpeedParams:
        return cls({b: BackendParams() for b in ("cuda", "rocm", "vulkan", "metal", "sycl")}, CpuParams())

    @staticmethod
    @lru_cache(maxsize=1)
    def fitted() -> SpeedParams:
        """The committed fit (plan/data/speed_params.json); the priors when it is absent."""
        if not PARAMS_FILE.is_file():
            return SpeedParams.priors()
        return SpeedParams.from_dict(json.loads(PARAMS_FILE.read_text()))


# A backend without rows of its own takes the constants of the nearest one: ROCm is CUDA's code
# (HIP), SYCL and Vulkan are closest to each other.
_BORROW = {"rocm": ("vulkan",), "vulkan": ("rocm",), "sycl": ("vulkan",), "metal": ()}


def _only(cls, values: dict[str, Any]):
    names = {f.name for f in fields(cls)}
    return cls(**{k: float(v) for k, v in values.items() if k in names})
