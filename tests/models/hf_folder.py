"""A tiny random-weight llama model in Hugging Face format (config.json + model.safetensors +
tokenizer.json), for converting with llama.cpp's convert_hf_to_gguf.py. The tokenizer is the
default model's own (SmolLM2's GPT-2 BPE vocabulary and merges, read from its GGUF), so the
converter recognises its pre-tokenizer; the weights are random, the shapes real."""

from __future__ import annotations

import json
import struct
from pathlib import Path

SPECIAL_TYPE = 3  # gguf TokenType.CONTROL


def read_bpe_vocab(gguf_path: Path) -> tuple[list[str], list[str], list[int], str | None]:
    """(tokens, merges, token types, chat template) of a GPT-2-style GGUF vocabulary."""
    from gguf import GGUFReader

    fields = GGUFReader(str(gguf_path)).fields
    template = fields.get("tokenizer.chat_template")
    return (list(fields["tokenizer.ggml.tokens"].contents()), list(fields["tokenizer.ggml.merges"].contents()),
            list(fields["tokenizer.ggml.token_type"].contents()), template.contents() if template else None)


def write_safetensors_bf16(path: Path, tensors: dict) -> None:
    """safetensors by hand (8-byte header length, JSON header, raw data), bfloat16 = the top half of float32."""
    import numpy as np

    header: dict = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, array in tensors.items():
        bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
        data = ((bits + 0x8000) >> 16).astype(np.uint16).tobytes()  # round to nearest
        header[name] = {"dtype": "BF16", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)


def write_hf_llama(folder: Path, vocab_gguf: Path, *, hidden: int = 256, ffn: int = 512, layers: int = 2,
                   heads: int = 4, kv_heads: int = 2, architecture: str = "LlamaForCausalLM", seed: int = 0) -> Path:
    import numpy as np

    tokens, merges, types, template = read_bpe_vocab(vocab_gguf)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": [architecture], "model_type": "llama", "hidden_size": hidden,
        "intermediate_size": ffn, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "vocab_size": len(tokens), "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5, "rope_theta": 100000.0, "tie_word_embeddings": True, "hidden_act": "silu",
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    specials = [i for i, t in enumerate(types) if t == SPECIAL_TYPE]
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": tokens[i], "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i in specials],
        "normalizer": None,
        # SmolLM's pre-tokenizer: digits split one by one, then GPT-2 byte-level splitting.
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges},
    }
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
    tok_config = {"tokenizer_class": "GPT2Tokenizer", "bos_token": tokens[1], "eos_token": tokens[2],
                  "unk_token": tokens[0], "pad_token": tokens[2], "model_max_length": 2048,
                  "add_prefix_space": False, "clean_up_tokenization_spaces": False}
    if template:
        tok_config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2))

    rng = np.random.default_rng(seed)
    head_dim = hidden // heads

    def mat(rows: int, cols: int):
        return rng.standard_normal((rows, cols), dtype=np.float32) * 0.02

    weights = {"model.embed_tokens.weight": mat(len(tokens), hidden), "model.norm.weight": np.ones(hidden, np.float32)}
    for il in range(layers):
        p = f"model.layers.{il}."
        weights |= {
            p + "input_layernorm.weight": np.ones(hidden, np.float32),
            p + "post_attention_layernorm.weight": np.ones(hidden, np.float32),
            p + "self_attn.q_proj.weight": mat(hidden, hidden),
            p + "self_attn.k_proj.weight": mat(kv_heads * head_dim, hidden),
            p + "self_attn.v_proj.weight": mat(kv_heads * head_dim, hidden),
            p + "self_attn.o_proj.weight": mat(hidden, hidden),
            p + "mlp.gate_proj.weight": mat(ffn, hidden),
            p + "mlp.up_proj.weight": mat(ffn, hidden),
            p + "mlp.down_proj.weight": mat(hidden, ffn),
        }
    write_safetensors_bf16(folder / "model.safetensors", weights)
    return folder
