"""What one token costs, layer by layer: weights touched, KV cache read, FLOPs. No device in here.

The speed model (plan/speed.py) divides these by each device's rates. Sources:
- weight elements per layer: the tensor table llama.cpp's converter writes for the architecture
  (plan/tensor_table.py); a matmul costs 2 FLOPs per weight element per token (one multiply-add).
- experts: a token uses n_expert_used of n_expert experts (build_moe_ffn in llama-graph.cpp);
  B sequences decoding together touch n_expert x (1 - (1 - k/n)^B) distinct experts (routing
  treated as independent and uniform).
- KV cache: per layer and cached token, one K row of n_embd_k_gqa and one V row of n_embd_v_gqa
  elements of the cache type (llama-kv-cache.cpp); sliding-window layers read at most n_swa
  tokens; recurrent layers read their fixed F32 state instead (llama-memory-recurrent.cpp).
- attention: Q.K^T and softmax(QK^T).V cost 2 x n_head x (head_dim_k + head_dim_v) FLOPs per
  cached token (build_attn_mha in llama-graph.cpp); MLA (DeepSeek) attends in the compressed
  latent space, kv_lora_rank wide for V.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heavylift.models.ggml_types import GGML_TYPES_BY_NAME
from heavylift.models.model_arch import ModelArch
from heavylift.plan.memory import ContextConfig


@dataclass
class TokenWork:
    dense_elems: list[int]  # per layer: weight elements every token multiplies (attention, shared, dense FFN)
    expert_elems: list[int]  # per layer: elements of ALL experts (a token uses frac of them)
    output_elems: int
    frac: float  # n_expert_used / n_expert (1 for dense models)
    n_expert: int
    n_expert_used: int
    kv_row_bytes: list[int]  # per layer: K + V bytes per cached token
    state_bytes: list[int]  # per layer: recurrent state read per token (F32)
    attn_flops: list[int]  # per layer: attention FLOPs per cached token
    swa: list[bool]
    n_swa: int
    n_embd: int
    recurrent: list[bool]
    n_head: int = 1  # query heads: the CPU's flash-attention kernel splits decode work by them
    # per layer: llama.cpp's HIP build runs this layer's flash-attention prefill on AMD RDNA3/RDNA4
    # with its matrix-core (mma, WMMA) kernel: a GQA ratio of 2 or more and K heads of at most 256
    # (ggml-cuda/fattn.cu ggml_cuda_get_best_fattn_kernel, gqa_opt_applies); otherwise (MHA, MLA's
    # 576-wide latent) it takes the tile kernel, which runs on the plain FP16/FP32 ALUs
    fa_wmma: list[bool] = field(default_factory=list)
    n_head_kv: list[int] = field(default_factory=list)  # per layer (0: no KV cache)
    head_dim_k: int = 0  # K head width (MLA: the cached latent, 576)
    head_dim_v: int = 0
    kv_quantized: bool = False  # a quantized cache type (q8_0, q4_0, ...): no matrix-core decode kernel

    def gqa(self, il: int) -> int:
        """Query heads per KV head in layer il (0 without a KV cache)."""
        return self.n_head // self.n_head_kv[il] if il < len(self.n_head_kv) and self.n_head_kv[il] else 0

    def kv_tokens(self, il: int, depth: int) -> int:
        return min(depth, self.n_swa) if self.swa[il] and self.n_swa else depth

    def experts_touched(self, n_seq: int) -> float:
        """Fraction of a layer's expert bytes read per step when n_seq sequences decode together."""
        if self.n_expert <= 1:
            return 1.0
        return 1.0 - (1.0 - self.frac) ** max(1, n_seq)


def token_work(arch: ModelArch, cfg: ContextConfig, layer_bytes_dense: list[int], layer_bytes_experts: list[int],
               output_bytes: int) -> TokenWork:
    n = arch.n_layer
    dense, experts, output = _elements(arch, layer_bytes_dense, layer_bytes_experts, output_bytes)
    kv_type = GGML_TYPES_BY_NAME[cfg.kv_type.upper()]
    kv_row, state, attn = [], [], []
    v_width = arch.kv_lora_rank if arch.is_mla else arch.head_dim_v
    for il in range(n):
        if arch.recurrent_layers[il] or not arch.n_head_kv[il]:
            kv_row.append(0)
            attn.append(0)
            state.append(4 * (arch.n_embd_r + arch.n_embd_s) if arch.recurrent_layers[il] else 0)
            continue
        v = kv_type.row_bytes(arch.n_embd_v_gqa(il)) if arch.n_embd_v_gqa(il) else 0
        kv_row.append(kv_type.row_bytes(arch.n_embd_k_gqa(il)) + v)
        attn.append(2 * arch.n_head * (arch.head_dim_k + v_width))
        state.append(0)
    frac = arch.n_expert_used / arch.n_expert if arch.is_moe else 1.0
    fa_wmma = [bool(kv) and arch.n_head // kv >= 2 and arch.head_dim_k <= 256 for kv in arch.n_head_kv]
    return TokenWork(dense, experts, output, frac, arch.n_expert, arch.n_expert_used, kv_row, state, attn,
                     list(arch.swa_layers), arch.n_swa, arch.n_embd,
                     list(arch.recurrent_layers), arch.n_head, fa_wmma, list(arch.n_head_kv), arch.head_dim_k,
                     arch.kv_lora_rank if arch.is_mla else arch.head_dim_v, kv_type.block_size > 1)


_ELEMENTS: dict[str, tuple[list[int], list[int], int]] = {}  # per architecture (the planner asks many times)


def _elements(arch: ModelArch, dense_b: list[int], experts_b: list[int], output_b: int) -> tuple[list[int], list[int], int]:
    """Weight elements per layer from the architecture's tensor table, or from bytes at the file's
    average bits per weight when the table cannot be built for this architecture."""
    key = repr(arch)
    if key not in _ELEMENTS:
        _ELEMENTS[key] = _table_elements(arch)
    dense, experts, output = _ELEMENTS[key]
    if sum(dense) == 0:
        # ~4.5 bits per weight (Q4_K_M) when nothing better is known
        return [b * 16 // 9 for b in dense_b], [b * 16 // 9 for b in experts_b], output_b * 16 // 9
    return dense, experts, output


def _table_elements(arch: ModelArch) -> tuple[list[int], list[int], int]:
    from heavylift.plan.tensor_table import tensor_table

    n = arch.n_layer
    dense, experts = [0] * n, [0] * n
    output = 0
    try:
        for t in tensor_table(arch):
            if t.layer >= 0:
                (experts if "_exps" in t.name else dense)[t.layer] += t.n_elements
            elif t.name.startswith("output.") or (arch.tied_embeddings and t.name.startswith("token_embd")):
                output += t.n_elements
    except (KeyError, ValueError, AttributeError, IndexError, ZeroDivisionError):
        return [0] * n, [0] * n, 0
    return dense, experts, output
