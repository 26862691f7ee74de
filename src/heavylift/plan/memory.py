"""Memory llama.cpp allocates for a model and a context: a typed breakdown with a sum.

Every formula names the llama.cpp function it mirrors (pinned source 0c1e570). Weights are exact
for GGUF input (the tensor table); KV cache, recurrent state and output buffer are exact
transliterations; compute buffers are an estimate of ggml-alloc's peak (the graph allocator's
result cannot be derived in closed form) fitted to what llama.cpp reports, see `compute_bytes`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from heavylift.errors import UsageError
from heavylift.models.ggml_types import GGML_TYPES_BY_NAME
from heavylift.models.model_arch import ModelArch

KV_TYPES = ("f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "f32")
MiB = 1024 * 1024


@dataclass
class MemoryBreakdown:
    """Bytes one device holds. `sum()` is what the plan compares with the device's capacity."""

    weights_bytes: int = 0
    kv_cache_bytes: int = 0
    recurrent_state_bytes: int = 0
    compute_bytes: int = 0
    output_bytes: int = 0
    overhead_bytes: int = 0

    def sum(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def __add__(self, other: MemoryBreakdown) -> MemoryBreakdown:
        return MemoryBreakdown(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class ContextConfig:
    """The serving settings that size the memory (llama_context_params)."""

    ctx: int
    n_parallel: int = 1
    kv_type: str = "f16"
    n_batch: int = 2048
    n_ubatch: int = 512
    flash_attn: bool = True
    kv_unified: bool = False  # llama-server's default at this version (log: "kv_unified = false")
    # logits rows the compute graph is reserved for. None = llama-server: n_parallel
    # (server-context.cpp load_model -> common/speculative.cpp common_speculative_get_output_limits);
    # llama-fit-params and other common tools leave it 0 = n_batch (llama-context.cpp ctor).
    n_outputs_max: int | None = None

    def __post_init__(self) -> None:
        for label, value in (("context", self.ctx), ("parallel", self.n_parallel), ("batch", self.n_batch),
                             ("ubatch", self.n_ubatch), ("outputs", 1 if self.n_outputs_max is None else self.n_outputs_max)):
            if value <= 0:
                raise UsageError(f"{label} must be greater than zero (got {value})")
        if self.kv_type not in KV_TYPES:
            raise UsageError(f"unknown KV cache type {self.kv_type!r}; choose one of {', '.join(KV_TYPES)}")
        if self.kv_type not in ("f16", "bf16", "f32") and not self.flash_attn:
            raise UsageError("a quantized KV cache (V) needs flash attention in llama.cpp; drop --no-flash-attn")

    @property
    def n_ubatch_eff(self) -> int:
        return min(self.n_ubatch, self.n_batch)

    @property
    def n_outputs_max_eff(self) -> int:
        return self.n_parallel if self.n_outputs_max is None else self.n_outputs_max


def _pad(x: int, n: int) -> int:
    return -(-x // n) * n


def kv_cells(arch: ModelArch, cfg: ContextConfig) -> tuple[int, int, int]:
    """(cells per stream for full-attention layers, streams, cells per stream for SWA layers).

    llama-context.cpp (llama_context ctor): n_ctx = GGML_PAD(n_ctx, 256); without a unified cache
    n_ctx_seq = GGML_PAD(n_ctx / n_seq_max, 256) and the cache has n_seq_max streams of that size.
    llama-kv-cache-iswa.cpp: size_swa = GGML_PAD(min(size_base, n_swa*(unified ? n_seq_max : 1) + n_ubatch), 256).
    """
    n_ctx = _pad(cfg.ctx, 256)
    if cfg.kv_unified:
        per_stream, streams = n_ctx, 1
    else:
        per_stream, streams = _pad(n_ctx // cfg.n_parallel, 256), cfg.n_parallel
    swa = 0
    if arch.n_swa:
        swa = _pad(min(per_stream, arch.n_swa * (cfg.n_parallel if cfg.kv_unified else 1) + cfg.n_ubatch_eff), 256)
    return per_stream, streams, swa


def kv_cache_bytes_per_layer(arch: ModelArch, cfg: ContextConfig) -> list[int]:
    """llama_kv_cache ctor (llama-kv-cache.cpp): per layer a K tensor [n_embd_k_gqa, kv_size, n_stream]
    and (unless MLA) a V tensor [n_embd_v_gqa, kv_size, n_stream] of the cache type."""
    per_stream, streams, swa = kv_cells(arch, cfg)
    kv_type = GGML_TYPES_BY_NAME[cfg.kv_type.upper()]
    out = []
    for il in range(arch.n_layer):
        if arch.recurrent_layers[il] or not arch.n_head_kv[il]:
            out.append(0)
            continue
        cells = (swa if arch.swa_layers[il] else per_stream) * streams
        k = kv_type.row_bytes(arch.n_embd_k_gqa(il)) * cells
        v = kv_type.row_bytes(arch.n_embd_v_gqa(il)) * cells if arch.n_embd_v_gqa(il) else 0
        out.append(k + v)
    return out


def recurrent_bytes_per_layer(arch: ModelArch, cfg: ContextConfig) -> list[int]:
    """llama_memory_recurrent ctor (llama-memory-recurrent.cpp): per recurrent layer r [n_embd_r, mem_size]
    and s [n_embd_s, mem_size] in F32, mem_size = max(1, n_seq_max) sequences (llama-model.cpp create_memory)."""
    mem_size = max(1, cfg.n_parallel)
    per_layer = 4 * (arch.n_embd_r + arch.n_embd_s) * mem_size
    return [per_layer if r else 0 for r in arch.recurrent_layers]


def output_bytes(arch: ModelArch, cfg: ContextConfig) -> int:
    """llama_context::output_reserve: logits n_vocab x max(n_outputs, n_seq_max) floats; at load
    n_outputs_max_per_seq = 1, so n_seq_max rows (log: "CPU output buffer size")."""
    return 4 * arch.n_vocab * cfg.n_parallel


def compute_bytes(arch: ModelArch, cfg: ContextConfig, has_output: bool = True) -> int:
    """Peak of the scheduler's compute buffer on one device (llama_context::sched_reserve, ggml-alloc).

    sched_reserve (llama-context.cpp) reserves a prompt graph of T = min(n_ctx, n_ubatch) tokens in
    n_seq_max streams with n_out = min(T, n_outputs_max) logits rows. ggml-alloc's peak depends on
    tensor order and holes, so this is a closed form fitted to the log lines, per token of T:
      FFN   : 4*n_embd + 3*W floats (W = FFN width: n_ff, or n_expert_used*n_ff_exp for MoE, which
              runs [W/n_used, n_used, T] through mul_mat_id); when W <= 2*n_embd one of the three
              W-wide tensors (gate, up, swiglu) lands in the hole two freed n_embd activations left,
              so 2*W floats.
      attn  : 5*n_embd + 2*n_embd_k_gqa floats; without flash attention plus the KQ scores
              [n_kv, T, n_head] F32 (build_attn_mha: kq = mul_mat(k, q); soft_max_ext runs in place).
      mask  : the KQ mask [n_kv, T/n_stream, 1, n_stream] (llama-graph.cpp build_attn_inp_kv:
              F16 with flash attention, else F32), live across all layers; a second one for SWA.
      inputs: 24 B (token ids, positions, alignment; measured).
    The layer peak is mask + max(attn, FFN). The end of the graph holds the logits [n_vocab, n_out]
    F32 and two n_embd activations per token, on the device with the output layer (has_output).
    Evidence (llama-server -lv 4 --fit off, CPU, 2026-11): SmolLM2-135M dense and its 4x-top2 MoE,
    and 12 random tiny llamas (tests/plan/tiny_gguf.py: n_embd 256..512, n_ff 256..2048, 1..8 KV
    heads, dense or 8..16 experts top 2..8), T 256..2048, ctx 1k..8k, 1..4 slots: with flash
    attention every case within 0.01 MiB; without it within 1 MiB (worst 5.8%, at a 256-token
    context). With n_out = T (llama-fit-params) the logits term gives its 24.56 / 98.25 / 196.50 MiB.
    """
    per_stream, _, swa = kv_cells(arch, cfg)
    n_tokens = min(_pad(cfg.ctx, 256), cfg.n_ubatch_eff)
    n_out = min(n_tokens, cfg.n_outputs_max_eff)
    logits = 4 * (arch.n_vocab * n_out + 2 * arch.n_embd * n_tokens) if has_output else 0
    width = max(arch.n_ff, arch.n_expert_used * arch.n_ff_exp, arch.n_ff_shexp)
    ffn = 4 * n_tokens * (4 * arch.n_embd + (2 if width <= 2 * arch.n_embd else 3) * width)
    kv_width = max((arch.n_embd_k_gqa(il) for il in range(arch.n_layer)), default=0)
    attn = 4 * n_tokens * (5 * arch.n_embd + 2 * kv_width)
    mask = (2 if cfg.flash_attn else 4) * n_tokens * (per_stream + (swa if any(arch.swa_layers) else 0))
    kq = 0 if cfg.flash_attn else 4 * per_stream * n_tokens * arch.n_head
    return max(logits, mask + max(attn + kq, ffn) + 24 * n_tokens)
