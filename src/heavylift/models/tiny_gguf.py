"""Tiny llama-architecture GGUFs of any shape. The tests check the planner's formulas on shapes other
than the default model's; `bench --calibrate` times one to measure the graph's fixed cost per layer
(bench/calibrate.py). Weights are random F16 (norms and router F32) and the vocabulary is a made-up
SentencePiece one: the file only has to load in llama.cpp, not to write sense. `add_arch_metadata`
writes any catalog architecture's hyperparameters (tests/plan/arch_gguf.py, bench/gpu/make_kit.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from heavylift.models.model_arch import ModelArch


@dataclass(frozen=True)
class TinyShape:
    n_embd: int = 256
    n_ff: int = 1024
    n_head: int = 8
    n_head_kv: int = 2
    n_vocab: int = 8192
    n_layer: int = 4
    n_expert: int = 0
    n_expert_used: int = 0
    n_ctx_train: int = 16384

    @property
    def stem(self) -> str:
        return "tiny-" + "-".join(f"{v}" for v in asdict(self).values())


def write_tiny_llama(path: Path, shape: TinyShape, seed: int = 0) -> Path:
    """Write a llama GGUF with `shape` to `path` (atomically) and return it."""
    import numpy as np
    from gguf import GGUFWriter

    rng = np.random.default_rng(seed)
    s = shape
    head_dim = s.n_embd // s.n_head
    tmp = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    w = GGUFWriter(str(tmp), arch="llama")
    w.add_name(s.stem)
    w.add_block_count(s.n_layer)
    w.add_context_length(s.n_ctx_train)
    w.add_embedding_length(s.n_embd)
    w.add_feed_forward_length(s.n_ff)
    w.add_head_count(s.n_head)
    w.add_head_count_kv(s.n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(s.n_vocab)
    w.add_file_type(1)  # LLAMA_FTYPE_MOSTLY_F16
    if s.n_expert:
        w.add_expert_count(s.n_expert)
        w.add_expert_used_count(s.n_expert_used)
        w.add_expert_feed_forward_length(s.n_ff)  # as heavylift.models.moe_upcycle writes it
    add_spm_vocab(w, s.n_vocab)

    def mat(*numpy_shape: int):  # numpy order: the ggml shape reversed
        return (rng.standard_normal(numpy_shape, dtype=np.float32) * 0.02).astype(np.float16)

    w.add_tensor("token_embd.weight", mat(s.n_vocab, s.n_embd))
    w.add_tensor("output_norm.weight", np.ones(s.n_embd, dtype=np.float32))
    w.add_tensor("output.weight", mat(s.n_vocab, s.n_embd))
    kv = head_dim * s.n_head_kv
    for il in range(s.n_layer):
        p = f"blk.{il}."
        w.add_tensor(p + "attn_norm.weight", np.ones(s.n_embd, dtype=np.float32))
        w.add_tensor(p + "attn_q.weight", mat(s.n_embd, s.n_embd))
        w.add_tensor(p + "attn_k.weight", mat(kv, s.n_embd))
        w.add_tensor(p + "attn_v.weight", mat(kv, s.n_embd))
        w.add_tensor(p + "attn_output.weight", mat(s.n_embd, s.n_embd))
        w.add_tensor(p + "ffn_norm.weight", np.ones(s.n_embd, dtype=np.float32))
        if s.n_expert:
            w.add_tensor(p + "ffn_gate_inp.weight", np.zeros((s.n_expert, s.n_embd), dtype=np.float32))
            w.add_tensor(p + "ffn_gate_exps.weight", mat(s.n_expert, s.n_ff, s.n_embd))
            w.add_tensor(p + "ffn_up_exps.weight", mat(s.n_expert, s.n_ff, s.n_embd))
            w.add_tensor(p + "ffn_down_exps.weight", mat(s.n_expert, s.n_embd, s.n_ff))
        else:
            w.add_tensor(p + "ffn_gate.weight", mat(s.n_ff, s.n_embd))
            w.add_tensor(p + "ffn_up.weight", mat(s.n_ff, s.n_embd))
            w.add_tensor(p + "ffn_down.weight", mat(s.n_embd, s.n_ff))
    return finish_gguf(w, tmp, path)


def finish_gguf(w, tmp: Path, path: Path) -> Path:
    """Write a gguf.GGUFWriter's header, metadata and tensors to `tmp`, then move it to `path`
    (a reader never sees a half-written file)."""
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.replace(path)
    return path


def add_spm_vocab(w, n_vocab: int) -> None:
    """A SentencePiece vocab llama.cpp loads (into a gguf.GGUFWriter): <unk> <s> </s>, the 256 byte
    tokens, then filler pieces."""
    from gguf import TokenType

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL] + [TokenType.BYTE] * 256
    tokens += [f"\u2581t{i}" for i in range(n_vocab - len(tokens))]
    types += [TokenType.NORMAL] * (n_vocab - len(types))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([-float(i) for i in range(n_vocab)])
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)


def add_arch_metadata(w, a: ModelArch) -> None:
    """The hyperparameters of `a` (into a gguf.GGUFWriter) as convert_hf_to_gguf.py writes them for its
    architecture and llama.cpp reads them (llama-model.cpp load_hparams + load_arch_hparams): the
    tests' tiny any-architecture GGUFs and bench/gpu's catalog clones use it."""
    k = a.arch
    w.add_uint32(f"{k}.block_count", a.n_layer_all)
    w.add_uint32(f"{k}.context_length", a.n_ctx_train)
    w.add_uint32(f"{k}.embedding_length", a.n_embd)
    # the converter writes config intermediate_size here: the expert width for Mixtral and MiniMax-M2,
    # whose llama.cpp loaders size the experts by it
    w.add_uint32(f"{k}.feed_forward_length", a.n_ff or a.n_ff_exp)
    w.add_uint32(f"{k}.attention.head_count", a.n_head)
    w.add_uint32(f"{k}.attention.head_count_kv", max(a.n_head_kv))
    w.add_float32(f"{k}.attention.layer_norm_rms_epsilon", 1e-6)
    w.add_uint32(f"{k}.vocab_size", a.n_vocab)
    if a.is_mla:
        w.add_uint32(f"{k}.attention.q_lora_rank", a.q_lora_rank)
        w.add_uint32(f"{k}.attention.kv_lora_rank", a.kv_lora_rank)
        w.add_uint32(f"{k}.attention.key_length", a.kv_lora_rank + a.qk_rope_head_dim)
        w.add_uint32(f"{k}.attention.value_length", a.kv_lora_rank)
        w.add_uint32(f"{k}.attention.key_length_mla", a.qk_nope_head_dim + a.qk_rope_head_dim)
        w.add_uint32(f"{k}.attention.value_length_mla", a.v_head_dim_mla)
        w.add_uint32(f"{k}.rope.dimension_count", a.qk_rope_head_dim)
        w.add_uint32(f"{k}.expert_shared_count", a.n_ff_shexp // a.n_ff_exp)
        w.add_uint32(f"{k}.expert_gating_func", 2)  # sigmoid, as DeepSeek-V3
    else:
        w.add_uint32(f"{k}.attention.key_length", a.head_dim_k)
        w.add_uint32(f"{k}.attention.value_length", a.head_dim_v)
        rot = a.n_rot or a.head_dim_k
        if a.arch in ("qwen3next", "qwen35", "qwen35moe"):
            rot = a.head_dim_k // 4  # partial_rotary_factor 0.25 (conversion/qwen.py)
        w.add_uint32(f"{k}.rope.dimension_count", rot)
    if a.indexer_n_head:
        w.add_uint32(f"{k}.attention.indexer.head_count", a.indexer_n_head)
        w.add_uint32(f"{k}.attention.indexer.key_length", a.indexer_head_size)
        w.add_uint32(f"{k}.attention.indexer.top_k", 64)
    if a.n_expert:
        w.add_uint32(f"{k}.expert_count", a.n_expert)
        w.add_uint32(f"{k}.expert_used_count", a.n_expert_used)
        w.add_uint32(f"{k}.expert_feed_forward_length", a.n_ff_exp)
    if a.n_layer_dense_lead:
        w.add_uint32(f"{k}.leading_dense_block_count", a.n_layer_dense_lead)
    if a.arch == "glm4moe":
        w.add_uint32(f"{k}.expert_shared_count", a.n_ff_shexp // a.n_ff_exp)
    if a.arch in ("glm4moe", "minimax-m2"):
        w.add_uint32(f"{k}.expert_gating_func", 2)  # sigmoid routing (config scoring_func)
    if a.arch in ("qwen3next", "qwen35", "qwen35moe"):
        if a.n_ff_shexp:
            w.add_uint32(f"{k}.expert_shared_feed_forward_length", a.n_ff_shexp)
        w.add_uint32(f"{k}.ssm.conv_kernel", a.ssm_d_conv)
        w.add_uint32(f"{k}.ssm.inner_size", a.ssm_d_inner)
        w.add_uint32(f"{k}.ssm.state_size", a.ssm_d_state)
        w.add_uint32(f"{k}.ssm.time_step_rank", a.ssm_dt_rank)
        w.add_uint32(f"{k}.ssm.group_count", a.ssm_n_group)
        w.add_uint32(f"{k}.full_attention_interval", 4)
    if a.arch in ("qwen35", "qwen35moe"):
        w.add_array(f"{k}.rope.dimension_sections", [11, 11, 10, 0])
    if a.arch == "llama4":
        w.add_uint32(f"{k}.interleave_moe_layer_step", a.n_moe_layer_step)
    if a.arch in ("gpt-oss", "gemma3"):
        w.add_uint32(f"{k}.attention.sliding_window", a.n_swa)
    if a.n_layer_nextn:
        w.add_uint32(f"{k}.nextn_predict_layers", a.n_layer_nextn)
