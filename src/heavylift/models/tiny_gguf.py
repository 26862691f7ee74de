"""Tiny llama-architecture GGUFs of any shape. The tests check the planner's formulas on shapes other
than the default model's; `bench --calibrate` times one to measure the graph's fixed cost per layer
(bench/calibrate.py). Weights are random F16 (norms and router F32) and the vocabulary is a made-up
SentencePiece one: the file only has to load in llama.cpp, not to write sense."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


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
