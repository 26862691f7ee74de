"""The GGUF tensor table llama.cpp's converter would write for an architecture (no file needed).

Names and ggml-order shapes follow src/llama-arch.cpp (LLM_TENSOR_NAMES) and the tensor creation
in src/llama-model.cpp for each architecture; 1-D tensors (norms, biases) are F32 as
convert_hf_to_gguf.py writes them, matrices start as BF16 and are then typed by quant_rules.
Used for non-GGUF inputs only; a GGUF's own table is always preferred.
"""

from __future__ import annotations

from heavylift.models.ggml_types import GGML_TYPES_BY_NAME
from heavylift.models.model_arch import ModelArch
from heavylift.plan.quant_rules import TensorSpec

F32, BF16 = GGML_TYPES_BY_NAME["F32"], GGML_TYPES_BY_NAME["BF16"]


def tensor_table(a: ModelArch) -> list[TensorSpec]:
    out: list[TensorSpec] = []

    def add(name: str, *shape: int) -> None:
        out.append(TensorSpec(name, tuple(shape), F32 if len(shape) == 1 else BF16))

    add("token_embd.weight", a.n_embd, a.n_vocab)
    add("output_norm.weight", a.n_embd)
    if not a.tied_embeddings:
        add("output.weight", a.n_embd, a.n_vocab)
    hd = a.head_dim_k
    for il in range(a.n_layer):
        p = f"blk.{il}."
        add(p + "attn_norm.weight", a.n_embd)
        if a.recurrent_layers[il]:
            # qwen3next / qwen35moe gated delta-net layer (llama-model.cpp LLM_ARCH_QWEN3NEXT)
            key_dim, value_dim = a.ssm_n_group * a.ssm_d_state, a.ssm_d_inner
            conv_dim = 2 * key_dim + value_dim
            add(p + "attn_qkv.weight", a.n_embd, conv_dim)
            add(p + "attn_gate.weight", a.n_embd, value_dim)
            add(p + "ssm_ba.weight", a.n_embd, 2 * a.ssm_dt_rank)
            add(p + "ssm_conv1d.weight", a.ssm_d_conv, conv_dim)
            add(p + "ssm_dt.bias", a.ssm_dt_rank)
            add(p + "ssm_a", a.ssm_dt_rank)
            add(p + "ssm_norm.weight", a.ssm_d_state)
            add(p + "ssm_out.weight", value_dim, a.n_embd)
        elif a.is_mla:
            # deepseek2 (llama-model.cpp LLM_ARCH_DEEPSEEK2), with attn_kv_b split into k_b / v_b
            qk_head = a.qk_nope_head_dim + a.qk_rope_head_dim
            if a.q_lora_rank:
                add(p + "attn_q_a.weight", a.n_embd, a.q_lora_rank)
                add(p + "attn_q_a_norm.weight", a.q_lora_rank)
                add(p + "attn_q_b.weight", a.q_lora_rank, a.n_head * qk_head)
            else:
                add(p + "attn_q.weight", a.n_embd, a.n_head * qk_head)
            add(p + "attn_kv_a_mqa.weight", a.n_embd, a.kv_lora_rank + a.qk_rope_head_dim)
            add(p + "attn_kv_a_norm.weight", a.kv_lora_rank)
            add(p + "attn_k_b.weight", a.qk_nope_head_dim, a.kv_lora_rank, a.n_head)
            add(p + "attn_v_b.weight", a.kv_lora_rank, a.v_head_dim_mla, a.n_head)
            add(p + "attn_output.weight", a.n_head * a.v_head_dim_mla, a.n_embd)
        else:
            n_kv = a.n_head_kv[il]
            add(p + "attn_q.weight", a.n_embd, a.n_head * hd * (2 if a.attn_output_gate else 1))
            add(p + "attn_k.weight", a.n_embd, n_kv * hd)
            add(p + "attn_v.weight", a.n_embd, n_kv * a.head_dim_v)
            add(p + "attn_output.weight", a.n_head * a.head_dim_v, a.n_embd)
            if a.has_qk_norm:
                add(p + "attn_q_norm.weight", hd)
                add(p + "attn_k_norm.weight", hd)
            if a.has_attn_bias:
                add(p + "attn_q.bias", a.n_head * hd)
                add(p + "attn_k.bias", n_kv * hd)
                add(p + "attn_v.bias", n_kv * a.head_dim_v)
                add(p + "attn_output.bias", a.n_embd)
            if a.arch == "gpt-oss":
                add(p + "attn_sinks.weight", a.n_head)
        add(p + "ffn_norm.weight", a.n_embd)
        if a.is_moe_layer(il):
            add(p + "ffn_gate_inp.weight", a.n_embd, a.n_expert)
            add(p + "ffn_gate_exps.weight", a.n_embd, a.n_ff_exp, a.n_expert)
            add(p + "ffn_up_exps.weight", a.n_embd, a.n_ff_exp, a.n_expert)
            add(p + "ffn_down_exps.weight", a.n_ff_exp, a.n_embd, a.n_expert)
            if a.arch == "gpt-oss":
                add(p + "ffn_gate_inp.bias", a.n_expert)
                for kind in ("gate", "up"):
                    add(p + f"ffn_{kind}_exps.bias", a.n_ff_exp, a.n_expert)
                add(p + "ffn_down_exps.bias", a.n_embd, a.n_expert)
            if a.arch == "deepseek2":
                add(p + "exp_probs_b.bias", a.n_expert)
            if a.n_ff_shexp:
                if a.arch in ("qwen3next", "qwen35moe"):
                    add(p + "ffn_gate_inp_shexp.weight", a.n_embd)
                add(p + "ffn_gate_shexp.weight", a.n_embd, a.n_ff_shexp)
                add(p + "ffn_up_shexp.weight", a.n_embd, a.n_ff_shexp)
                add(p + "ffn_down_shexp.weight", a.n_ff_shexp, a.n_embd)
        else:
            n_ff = a.n_ff
            add(p + "ffn_gate.weight", a.n_embd, n_ff)
            add(p + "ffn_up.weight", a.n_embd, n_ff)
            add(p + "ffn_down.weight", n_ff, a.n_embd)
    return out


def header_bytes_estimate(a: ModelArch) -> int:
    """GGUF header for a converted model: dominated by the tokenizer (tokens, scores/types, merges).

    Estimated at 32 bytes per vocabulary entry (string length prefix + ~8 chars + type + a merge),
    plus 64 KiB of other metadata (chat template, hyperparameters) and 64 bytes per tensor entry.
    SmolLM2's real header (49152 tokens, 272 tensors) is 1.70 MiB; this gives 1.58 MiB.
    """
    return 32 * a.n_vocab + 64 * 1024 + 64 * len(tensor_table(a))
