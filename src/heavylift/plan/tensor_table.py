"""The GGUF tensor table llama.cpp's converter would write for an architecture (no file needed).

Names and ggml-order shapes follow src/llama-arch.cpp (LLM_TENSOR_NAMES) and each architecture's
`load_arch_tensors` in src/models/*.cpp at the pinned llama.cpp; which optional tensors exist, and
which blocks are kept (MTP), follows conversion/*.py. Types follow conversion/base.py
`prepare_tensors`: 1-D tensors, `*_norm.weight`, anything not named `*.weight` (biases, ssm_a) and
the tensors it always keeps in float32 (ffn_gate_inp, ffn_gate_inp_shexp, ssm_conv1d,
indexer.proj) are F32; every other matrix is BF16 (--outtype auto on a bf16 checkpoint) until
llama-quantize types it (plan/quant_rules.py). Used for non-GGUF inputs only; a GGUF's own table
is always preferred.
"""

from __future__ import annotations

from heavylift.models.ggml_types import GGML_TYPES_BY_NAME
from heavylift.models.model_arch import POST_ATTENTION_NORM_ARCHS, ModelArch
from heavylift.plan.quant_rules import EXPERT_WEIGHTS, TensorSpec

F32, BF16 = GGML_TYPES_BY_NAME["F32"], GGML_TYPES_BY_NAME["BF16"]
# conversion/base.py prepare_tensors: "Some tensor types are always in float32" (the ones that occur here)
_ALWAYS_F32 = ("ffn_gate_inp.weight", "ffn_gate_inp_shexp.weight", "ssm_conv1d.weight", "indexer.proj.weight")


def converted_type(name: str, n_dims: int):
    """The type convert_hf_to_gguf.py gives a tensor of a bf16 checkpoint (conversion/base.py prepare_tensors)."""
    if n_dims <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight") or name.endswith(_ALWAYS_F32):
        return F32
    return BF16


class _Table:
    def __init__(self, expert_type: str = "") -> None:
        self.tensors: list[TensorSpec] = []
        self.expert_type = GGML_TYPES_BY_NAME[expert_type] if expert_type else None

    def add(self, name: str, *shape: int) -> None:
        kind = self.expert_type if self.expert_type and name.endswith(EXPERT_WEIGHTS) else converted_type(name, len(shape))
        self.tensors.append(TensorSpec(name, tuple(shape), kind))


def tensor_table(a: ModelArch) -> list[TensorSpec]:
    """Every tensor of the converted GGUF, MTP blocks included (they are in the file, see ModelArch)."""
    t = _Table(a.expert_source_type)  # a checkpoint released with MXFP4 experts keeps them (ModelArch)
    t.add("token_embd.weight", a.n_embd, a.n_vocab)
    if a.has_rope_freqs:  # one tensor shared by all layers (TENSOR_DUPLICATED for il > 0)
        t.add("rope_freqs.weight", (a.n_rot or a.head_dim_k) // 2)
    t.add("output_norm.weight", a.n_embd)
    if not a.tied_embeddings:
        t.add("output.weight", a.n_embd, a.n_vocab)
    for il in range(a.n_layer_all):
        p = f"blk.{il}."
        t.add(p + "attn_norm.weight", a.n_embd)
        if il < a.n_layer and a.recurrent_layers[il]:
            _gated_delta_net(t, a, p)
        elif a.is_mla:
            _mla(t, a, p)
        else:
            _attention(t, a, p, il)
        if a.indexer_n_head:
            _dsa_indexer(t, a, p)
        _ffn(t, a, p, il)
        if il >= a.n_layer:
            _nextn(t, a, p)
    return t.tensors


def _attention(t: _Table, a: ModelArch, p: str, il: int) -> None:
    hd = a.head_dim_k
    n_kv = a.n_head_kv[il] if il < a.n_layer else max(a.n_head_kv)
    t.add(p + "attn_q.weight", a.n_embd, a.n_head * hd * (2 if a.attn_output_gate else 1))
    t.add(p + "attn_k.weight", a.n_embd, n_kv * hd)
    t.add(p + "attn_v.weight", a.n_embd, n_kv * a.head_dim_v)
    t.add(p + "attn_output.weight", a.n_head * a.head_dim_v, a.n_embd)
    if a.qk_norm == "head":
        t.add(p + "attn_q_norm.weight", hd)
        t.add(p + "attn_k_norm.weight", hd)
    elif a.qk_norm == "full":  # minimax-m2.cpp: over all heads
        t.add(p + "attn_q_norm.weight", a.n_head * hd)
        t.add(p + "attn_k_norm.weight", n_kv * hd)
    if a.has_qkv_bias:
        t.add(p + "attn_q.bias", a.n_head * hd * (2 if a.attn_output_gate else 1))
        t.add(p + "attn_k.bias", n_kv * hd)
        t.add(p + "attn_v.bias", n_kv * a.head_dim_v)
    if a.has_o_bias:
        t.add(p + "attn_output.bias", a.n_embd)
    if a.arch == "gpt-oss":
        t.add(p + "attn_sinks.weight", a.n_head)


def _gated_delta_net(t: _Table, a: ModelArch, p: str) -> None:
    """qwen3next / qwen35moe linear-attention layer (src/models/qwen3next.cpp, qwen35moe.cpp)."""
    key_dim, value_dim = a.ssm_n_group * a.ssm_d_state, a.ssm_d_inner
    conv_dim = 2 * key_dim + value_dim
    t.add(p + "attn_qkv.weight", a.n_embd, conv_dim)
    t.add(p + "attn_gate.weight", a.n_embd, value_dim)
    if a.arch in ("qwen35", "qwen35moe"):  # separate beta / alpha projections
        t.add(p + "ssm_beta.weight", a.n_embd, a.ssm_dt_rank)
        t.add(p + "ssm_alpha.weight", a.n_embd, a.ssm_dt_rank)
    else:
        t.add(p + "ssm_ba.weight", a.n_embd, 2 * a.ssm_dt_rank)
    t.add(p + "ssm_conv1d.weight", a.ssm_d_conv, conv_dim)
    t.add(p + "ssm_dt.bias", a.ssm_dt_rank)
    t.add(p + "ssm_a", a.ssm_dt_rank)
    t.add(p + "ssm_norm.weight", a.ssm_d_state)
    t.add(p + "ssm_out.weight", value_dim, a.n_embd)


def _mla(t: _Table, a: ModelArch, p: str) -> None:
    """deepseek2 / deepseek32 multi-head latent attention; the converter splits kv_b into k_b / v_b."""
    qk_head = a.qk_nope_head_dim + a.qk_rope_head_dim
    if a.q_lora_rank:
        t.add(p + "attn_q_a.weight", a.n_embd, a.q_lora_rank)
        t.add(p + "attn_q_a_norm.weight", a.q_lora_rank)
        t.add(p + "attn_q_b.weight", a.q_lora_rank, a.n_head * qk_head)
    else:
        t.add(p + "attn_q.weight", a.n_embd, a.n_head * qk_head)
    t.add(p + "attn_kv_a_mqa.weight", a.n_embd, a.kv_lora_rank + a.qk_rope_head_dim)
    t.add(p + "attn_kv_a_norm.weight", a.kv_lora_rank)
    t.add(p + "attn_k_b.weight", a.qk_nope_head_dim, a.kv_lora_rank, a.n_head)
    t.add(p + "attn_v_b.weight", a.kv_lora_rank, a.v_head_dim_mla, a.n_head)
    t.add(p + "attn_output.weight", a.n_head * a.v_head_dim_mla, a.n_embd)


def _dsa_indexer(t: _Table, a: ModelArch, p: str) -> None:
    """DeepSeek-V3.2 lightning indexer (src/models/deepseek32.cpp)."""
    t.add(p + "indexer.k_norm.weight", a.indexer_head_size)
    t.add(p + "indexer.k_norm.bias", a.indexer_head_size)
    t.add(p + "indexer.proj.weight", a.n_embd, a.indexer_n_head)
    t.add(p + "indexer.attn_k.weight", a.n_embd, a.indexer_head_size)
    t.add(p + "indexer.attn_q_b.weight", a.q_lora_rank, a.indexer_n_head * a.indexer_head_size)


def _ffn(t: _Table, a: ModelArch, p: str, il: int) -> None:
    if a.arch in POST_ATTENTION_NORM_ARCHS:
        t.add(p + "post_attention_norm.weight", a.n_embd)
    else:
        t.add(p + "ffn_norm.weight", a.n_embd)
    if a.arch == "gemma3":
        t.add(p + "post_attention_norm.weight", a.n_embd)
        t.add(p + "post_ffw_norm.weight", a.n_embd)
    if not a.is_moe_layer(il):
        t.add(p + "ffn_gate.weight", a.n_embd, a.n_ff)
        t.add(p + "ffn_up.weight", a.n_embd, a.n_ff)
        t.add(p + "ffn_down.weight", a.n_ff, a.n_embd)
        return
    t.add(p + "ffn_gate_inp.weight", a.n_embd, a.n_expert)
    t.add(p + "ffn_gate_exps.weight", a.n_embd, a.n_ff_exp, a.n_expert)
    t.add(p + "ffn_up_exps.weight", a.n_embd, a.n_ff_exp, a.n_expert)
    t.add(p + "ffn_down_exps.weight", a.n_ff_exp, a.n_embd, a.n_expert)
    if a.arch == "gpt-oss":
        t.add(p + "ffn_gate_inp.bias", a.n_expert)
        for kind in ("gate", "up"):
            t.add(p + f"ffn_{kind}_exps.bias", a.n_ff_exp, a.n_expert)
        t.add(p + "ffn_down_exps.bias", a.n_embd, a.n_expert)
    if a.has_expert_bias:
        t.add(p + "exp_probs_b.bias", a.n_expert)
    if a.n_ff_shexp:
        if a.arch in ("qwen3next", "qwen35moe"):
            t.add(p + "ffn_gate_inp_shexp.weight", a.n_embd)
        t.add(p + "ffn_gate_shexp.weight", a.n_embd, a.n_ff_shexp)
        t.add(p + "ffn_up_shexp.weight", a.n_embd, a.n_ff_shexp)
        t.add(p + "ffn_down_shexp.weight", a.n_ff_shexp, a.n_embd)


def _nextn(t: _Table, a: ModelArch, p: str) -> None:
    """An MTP block's extra tensors (llama-arch.cpp LLM_TENSOR_NEXTN_*)."""
    t.add(p + "nextn.eh_proj.weight", 2 * a.n_embd, a.n_embd)
    t.add(p + "nextn.enorm.weight", a.n_embd)
    t.add(p + "nextn.hnorm.weight", a.n_embd)
    t.add(p + "nextn.shared_head_norm.weight", a.n_embd)
    if a.nextn_has_embeddings:  # DeepSeek-V3 layout (README_WEIGHTS.md): own embed_tokens and shared_head.head
        t.add(p + "nextn.embed_tokens.weight", a.n_embd, a.n_vocab)
        t.add(p + "nextn.shared_head_head.weight", a.n_embd, a.n_vocab)


def loaded(a: ModelArch, tensors: list[TensorSpec]) -> list[TensorSpec]:
    """The tensors llama-server loads: MTP blocks are skipped unless MTP drafting is asked for
    (llama-model.cpp llama_model_default_params: load_mtp = false -> TENSOR_SKIP)."""
    return [t for t in tensors if t.layer < a.n_layer]


def header_bytes_estimate(a: ModelArch) -> int:
    """GGUF header for a converted model: dominated by the tokenizer (tokens, scores/types, merges).

    Estimated at 32 bytes per vocabulary entry (string length prefix + ~8 chars + type + a merge),
    plus 64 KiB of other metadata (chat template, hyperparameters) and 64 bytes per tensor entry.
    SmolLM2's real header (49152 tokens, 272 tensors) is 1.70 MiB; this gives 1.58 MiB.
    """
    return 32 * a.n_vocab + 64 * 1024 + 64 * len(tensor_table(a))
