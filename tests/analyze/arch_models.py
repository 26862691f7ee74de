"""Tiny random-weight GGUFs of architectures whose KV cache is not a plain per-token cache, for the
KV-persistence tests: a hybrid one (`qwen35moe`: gated-delta-net recurrent layers + full attention,
like Qwen3.5-397B-A17B) and a sliding-window one (`gpt-oss`: alternating SWA / full attention with
sinks, like gpt-oss-20b/120b). Tensor names and shapes follow the pinned llama.cpp's loaders
(src/models/qwen35moe.cpp and src/models/openai-moe.cpp, `load_arch_tensors`). The tokenizer and
chat template are copied from the default model (SmolLM2's GPT-2 BPE vocab), so prompts tokenize
and template exactly as they do for it. Weights are random: the text is nonsense but deterministic.
"""

from __future__ import annotations

from pathlib import Path

from heavylift.models.tiny_gguf import finish_gguf

N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 2
HEAD_DIM = 16
N_EXPERT = 4
N_EXPERT_USED = 2
N_FF_EXP = 32
N_LAYER = 4
N_CTX_TRAIN = 4096
SWA_WINDOW = 32  # tokens; far shorter than the test documents, so the window really slides


def _writer(path: Path, arch: str, vocab_from: Path):
    from gguf import GGUFReader, GGUFValueType, GGUFWriter

    w = GGUFWriter(str(path), arch=arch)
    w.add_name(f"tiny-{arch}")
    reader = GGUFReader(str(vocab_from))
    for key, field in reader.fields.items():
        if key.startswith("tokenizer."):
            vtype = GGUFValueType(field.types[0])
            sub = GGUFValueType(field.types[-1]) if vtype == GGUFValueType.ARRAY else None
            w.add_key_value(key, field.contents(), vtype, sub_type=sub)
    n_vocab = len(reader.fields["tokenizer.ggml.tokens"].contents())
    w.add_block_count(N_LAYER)
    w.add_context_length(N_CTX_TRAIN)
    w.add_embedding_length(N_EMBD)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_expert_count(N_EXPERT)
    w.add_expert_used_count(N_EXPERT_USED)
    w.add_expert_feed_forward_length(N_FF_EXP)
    w.add_file_type(0)  # ALL_F32
    return w, n_vocab


class _Tensors:
    """Adds F32 tensors given their ggml shape (innermost first), seeded, so files are reproducible."""

    def __init__(self, writer, seed: int):
        import numpy as np

        self.w = writer
        self.rng = np.random.default_rng(seed)

    def rand(self, name: str, *ggml_shape: int, scale: float = 0.1) -> None:
        import numpy as np

        data = self.rng.standard_normal(tuple(reversed(ggml_shape)), dtype=np.float32) * scale
        self.w.add_tensor(name, data.astype(np.float32))

    def const(self, name: str, *ggml_shape: int, value: float = 1.0) -> None:
        import numpy as np

        self.w.add_tensor(name, np.full(tuple(reversed(ggml_shape)), value, dtype=np.float32))


def write_qwen35moe(path: Path, vocab_from: Path, seed: int = 0) -> Path:
    """Hybrid: layers 0-2 gated delta net (recurrent state), layer 3 full attention (KV cache)."""
    tmp = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    arch = "qwen35moe"
    w, n_vocab = _writer(tmp, arch, vocab_from)
    d_state, n_group, n_v_heads, d_conv = 16, 2, 4, 4
    d_inner = d_state * n_v_heads
    w.add_uint32(f"{arch}.ssm.conv_kernel", d_conv)
    w.add_uint32(f"{arch}.ssm.inner_size", d_inner)
    w.add_uint32(f"{arch}.ssm.state_size", d_state)
    w.add_uint32(f"{arch}.ssm.time_step_rank", n_v_heads)
    w.add_uint32(f"{arch}.ssm.group_count", n_group)
    w.add_uint32(f"{arch}.full_attention_interval", 4)
    w.add_uint32(f"{arch}.expert_shared_feed_forward_length", N_FF_EXP)
    w.add_rope_dimension_count(8)
    w.add_array(f"{arch}.rope.dimension_sections", [2, 1, 1, 0])
    w.add_rope_freq_base(10_000_000.0)
    t = _Tensors(w, seed)
    t.rand("token_embd.weight", N_EMBD, n_vocab, scale=1.0)
    t.const("output_norm.weight", N_EMBD)
    t.rand("output.weight", N_EMBD, n_vocab)
    conv_dim = 2 * d_state * n_group + d_inner
    for il in range(N_LAYER):
        p = f"blk.{il}."
        t.const(p + "attn_norm.weight", N_EMBD)
        t.const(p + "post_attention_norm.weight", N_EMBD)
        if (il + 1) % 4:  # recurrent (linear attention) layer
            t.rand(p + "attn_qkv.weight", N_EMBD, conv_dim)
            t.rand(p + "attn_gate.weight", N_EMBD, d_inner)
            t.rand(p + "ssm_conv1d.weight", d_conv, conv_dim)
            t.rand(p + "ssm_dt.bias", n_v_heads)
            t.const(p + "ssm_a", n_v_heads, value=-1.0)
            t.rand(p + "ssm_beta.weight", N_EMBD, n_v_heads)
            t.rand(p + "ssm_alpha.weight", N_EMBD, n_v_heads)
            t.const(p + "ssm_norm.weight", d_state)
            t.rand(p + "ssm_out.weight", d_inner, N_EMBD)
        else:  # full attention; the query projection carries its output gate (2x)
            t.rand(p + "attn_q.weight", N_EMBD, HEAD_DIM * N_HEAD * 2)
            t.rand(p + "attn_k.weight", N_EMBD, HEAD_DIM * N_HEAD_KV)
            t.rand(p + "attn_v.weight", N_EMBD, HEAD_DIM * N_HEAD_KV)
            t.rand(p + "attn_output.weight", HEAD_DIM * N_HEAD, N_EMBD)
            t.const(p + "attn_q_norm.weight", HEAD_DIM)
            t.const(p + "attn_k_norm.weight", HEAD_DIM)
        t.rand(p + "ffn_gate_inp.weight", N_EMBD, N_EXPERT)
        t.rand(p + "ffn_gate_exps.weight", N_EMBD, N_FF_EXP, N_EXPERT)
        t.rand(p + "ffn_up_exps.weight", N_EMBD, N_FF_EXP, N_EXPERT)
        t.rand(p + "ffn_down_exps.weight", N_FF_EXP, N_EMBD, N_EXPERT)
        t.rand(p + "ffn_gate_inp_shexp.weight", N_EMBD)
        t.rand(p + "ffn_gate_shexp.weight", N_EMBD, N_FF_EXP)
        t.rand(p + "ffn_up_shexp.weight", N_EMBD, N_FF_EXP)
        t.rand(p + "ffn_down_shexp.weight", N_FF_EXP, N_EMBD)
    return finish_gguf(w, tmp, path)


def write_gpt_oss(path: Path, vocab_from: Path, seed: int = 0) -> Path:
    """Sliding window: even layers attend to the last SWA_WINDOW tokens, odd layers to everything."""
    tmp = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    arch = "gpt-oss"
    w, n_vocab = _writer(tmp, arch, vocab_from)
    w.add_uint32(f"{arch}.attention.sliding_window", SWA_WINDOW)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(150_000.0)
    t = _Tensors(w, seed)
    t.rand("token_embd.weight", N_EMBD, n_vocab, scale=1.0)
    t.const("output_norm.weight", N_EMBD)
    t.rand("output.weight", N_EMBD, n_vocab)
    for il in range(N_LAYER):
        p = f"blk.{il}."
        t.const(p + "attn_norm.weight", N_EMBD)
        t.const(p + "post_attention_norm.weight", N_EMBD)
        t.rand(p + "attn_q.weight", N_EMBD, HEAD_DIM * N_HEAD)
        t.rand(p + "attn_k.weight", N_EMBD, HEAD_DIM * N_HEAD_KV)
        t.rand(p + "attn_v.weight", N_EMBD, HEAD_DIM * N_HEAD_KV)
        t.rand(p + "attn_q.bias", HEAD_DIM * N_HEAD)
        t.rand(p + "attn_k.bias", HEAD_DIM * N_HEAD_KV)
        t.rand(p + "attn_v.bias", HEAD_DIM * N_HEAD_KV)
        t.rand(p + "attn_output.weight", HEAD_DIM * N_HEAD, N_EMBD)
        t.rand(p + "attn_output.bias", N_EMBD)
        t.rand(p + "attn_sinks.weight", N_HEAD)
        t.rand(p + "ffn_gate_inp.weight", N_EMBD, N_EXPERT)
        t.rand(p + "ffn_gate_inp.bias", N_EXPERT)
        t.rand(p + "ffn_gate_exps.weight", N_EMBD, N_FF_EXP, N_EXPERT)
        t.rand(p + "ffn_up_exps.weight", N_EMBD, N_FF_EXP, N_EXPERT)
        t.rand(p + "ffn_down_exps.weight", N_FF_EXP, N_EMBD, N_EXPERT)
        t.rand(p + "ffn_gate_exps.bias", N_FF_EXP, N_EXPERT)
        t.rand(p + "ffn_up_exps.bias", N_FF_EXP, N_EXPERT)
        t.rand(p + "ffn_down_exps.bias", N_EMBD, N_EXPERT)
    return finish_gguf(w, tmp, path)
