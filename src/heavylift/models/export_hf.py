"""GGUF -> a Hugging Face folder (config.json, safetensors, tokenizer) that vLLM and transformers load.

So one model can be served by both engines. What is undone, each following llama.cpp's converter
(convert_hf_to_gguf.py + conversion/llama.py at the pinned 0c1e570):
- names: the GGUF tensor names back to LlamaForCausalLM's (MixtralForCausalLM's for a llama-arch
  MoE: `block_sparse_moe.experts.E.w1/w2/w3` and the router `block_sparse_moe.gate`);
- `LlamaModel.permute`: the converter reorders the rows of q_proj and k_proj within each head
  (reshape(n_head, 2, head_dim/2, n_embd).swapaxes(1, 2)) so llama.cpp's RoPE sees its pairs;
  the inverse, reshape(n_head, head_dim/2, 2, n_embd).swapaxes(1, 2), restores Hugging Face's
  order (k_proj with n_head_kv heads);
- quantization: each tensor dequantized with the gguf package's quant helpers (the values the
  engine multiplies with), then stored as BF16 (round to nearest even), F16 or F32;
- the tokenizer: tokenizer.ggml.{tokens,merges,token_type} as a byte-level BPE tokenizer.json
  with the pre-tokenizer llama.cpp uses for tokenizer.ggml.pre (src/llama-vocab.cpp), the chat
  template and special tokens in tokenizer_config.json.
Architectures: llama (dense, and the MoE that `heavylift models upcycle` builds) with a BPE
(gpt2-style) vocabulary; anything else is refused with what is supported.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from heavylift.errors import ModelError, UsageError

DTYPES = {"bf16": ("BF16", 2, "bfloat16"), "f16": ("F16", 2, "float16"), "f32": ("F32", 4, "float32")}
SHARD_BYTES = 4 * 1024**3  # one safetensors file per ~4 GiB, with an index (as Hugging Face shards)

# tokenizer.ggml.pre -> the Hugging Face pre-tokenizer that splits as llama.cpp's regexes do
# (src/llama-vocab.cpp, llm_tokenizer_bpe: the "original regex from tokenizer.json" comments).
_GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def _byte_level(use_regex: bool) -> dict:
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": use_regex}


def _split(regex: str) -> dict:
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}


PRE_TOKENIZERS: dict[str, list[dict]] = {
    "gpt2": [_byte_level(True)],
    "smollm": [{"type": "Digits", "individual_digits": True}, _byte_level(True)],
    "llama-bpe": [_split(_LLAMA3_REGEX), _byte_level(False)],
    "qwen2": [_split(_QWEN2_REGEX), _byte_level(False)],
}

_LAYER_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "ffn_gate_inp": "block_sparse_moe.gate",
}
_EXPERT_NAMES = {"ffn_gate_exps": "w1", "ffn_down_exps": "w2", "ffn_up_exps": "w3"}  # Mixtral's w1/w2/w3


@dataclass
class ExportResult:
    folder: Path
    architecture: str  # the Hugging Face class
    n_tensors: int
    total_bytes: int


def export_hf(gguf_path: Path, out: Path, dtype: str = "bf16", force: bool = False,
              progress: Callable[[str], None] | None = None) -> ExportResult:
    """Write the folder `out` (atomically: a `.part` folder renamed at the end)."""
    try:
        import numpy as np
        from gguf import GGUFReader
    except ImportError:
        raise ModelError("export-hf needs the `gguf` and `numpy` packages: pip install gguf numpy") from None
    if dtype not in DTYPES:
        raise UsageError(f"--dtype {dtype}: choose one of {', '.join(DTYPES)}")
    if out.exists() and not force:
        if (out / "config.json").exists() and (out / "heavylift-export.json").exists():
            raise UsageError(f"{out} already holds an export; pass --force to write it again")
        raise UsageError(f"{out} exists and is not an export of ours; choose another --out")
    try:
        reader = GGUFReader(str(gguf_path))
    except Exception as e:  # the gguf package raises bare ValueError/struct errors on junk input
        raise ModelError(f"{gguf_path}: not a readable GGUF ({e}); give a .gguf model") from None
    meta = _Meta(reader)
    config = meta.hf_config(DTYPES[dtype][2])
    say = progress or (lambda _m: None)
    tmp = out.with_name(f"{out.name}.part-{os.getpid()}")  # two exports at once never share a folder
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors = list(_hf_tensors(reader, meta, np))
    n_bytes = _write_safetensors(tmp, tensors, dtype, np, say)
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    (tmp / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": meta.bos_id, "eos_token_id": meta.eos_id, "do_sample": False}, indent=2))
    for name, content in _tokenizer_files(meta).items():
        (tmp / name).write_text(json.dumps(content, ensure_ascii=False, indent=1 if name != "tokenizer.json" else None))
    (tmp / "heavylift-export.json").write_text(json.dumps(
        {"source": str(gguf_path), "source_bytes": gguf_path.stat().st_size, "dtype": dtype,
         "converter": "heavylift models export-hf (undoes llama.cpp 0c1e570 convert_hf_to_gguf.py)"}, indent=2))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return ExportResult(out, config["architectures"][0], len(tensors), n_bytes)


class _Meta:
    """The GGUF metadata export-hf needs, checked: what cannot be exported is refused here."""

    def __init__(self, reader):
        f = reader.fields

        def get(key: str, default=None):
            return f[key].contents() if key in f else default

        self.arch = get("general.architecture")
        if self.arch != "llama":
            raise ModelError(f"export-hf supports the llama architecture (dense, or its MoE as `models upcycle` "
                             f"makes it); this GGUF is {self.arch!r}")
        a = self.arch
        self.n_layer = int(get(f"{a}.block_count"))
        self.n_embd = int(get(f"{a}.embedding_length"))
        self.n_ff = int(get(f"{a}.feed_forward_length"))
        self.n_head = int(get(f"{a}.attention.head_count"))
        kv = get(f"{a}.attention.head_count_kv", self.n_head)
        self.n_head_kv = int(kv if not isinstance(kv, list) else kv[0])
        self.head_dim = int(get(f"{a}.rope.dimension_count", self.n_embd // self.n_head))
        self.n_ctx = int(get(f"{a}.context_length"))
        self.eps = float(get(f"{a}.attention.layer_norm_rms_epsilon"))
        self.rope_theta = float(get(f"{a}.rope.freq_base", 10000.0))
        self.n_expert = int(get(f"{a}.expert_count", 0) or 0)
        self.n_expert_used = int(get(f"{a}.expert_used_count", 0) or 0)
        if get(f"{a}.rope.scaling.type") not in (None, "none") or any(t.name == "rope_freqs.weight" for t in reader.tensors):
            raise ModelError("export-hf: this GGUF uses RoPE scaling (rope_freqs / rope.scaling), which it does "
                             "not write into config.json; export the original Hugging Face model instead")
        self.tokenizer_model = get("tokenizer.ggml.model")
        self.pre = get("tokenizer.ggml.pre", "default")
        if self.tokenizer_model != "gpt2" or self.pre not in PRE_TOKENIZERS:
            raise ModelError(f"export-hf writes byte-level BPE tokenizers (pre-tokenizers {', '.join(PRE_TOKENIZERS)}); "
                             f"this GGUF has {self.tokenizer_model!r} / pre {self.pre!r}")
        self.tokens: list[str] = list(get("tokenizer.ggml.tokens"))
        self.token_types: list[int] = list(get("tokenizer.ggml.token_type", [1] * len(self.tokens)))
        self.merges: list[str] = list(get("tokenizer.ggml.merges", []))
        self.bos_id = get("tokenizer.ggml.bos_token_id")
        self.eos_id = get("tokenizer.ggml.eos_token_id")
        self.pad_id = get("tokenizer.ggml.padding_token_id")
        self.unk_id = get("tokenizer.ggml.unknown_token_id")
        self.add_bos = bool(get("tokenizer.ggml.add_bos_token", False))
        self.chat_template = get("tokenizer.chat_template")
        names = {t.name for t in reader.tensors}
        self.tied = "output.weight" not in names
        self.vocab = len(self.tokens)

    def hf_config(self, torch_dtype: str) -> dict:
        moe = self.n_expert > 0
        config = {
            "architectures": ["MixtralForCausalLM" if moe else "LlamaForCausalLM"],
            "model_type": "mixtral" if moe else "llama",
            "hidden_size": self.n_embd, "intermediate_size": self.n_ff, "num_hidden_layers": self.n_layer,
            "num_attention_heads": self.n_head, "num_key_value_heads": self.n_head_kv, "head_dim": self.head_dim,
            "max_position_embeddings": self.n_ctx, "rms_norm_eps": self.eps, "rope_theta": self.rope_theta,
            "vocab_size": self.vocab, "tie_word_embeddings": self.tied, "hidden_act": "silu",
            "bos_token_id": self.bos_id, "eos_token_id": self.eos_id, "pad_token_id": self.pad_id,
            "torch_dtype": torch_dtype, "attention_bias": False,
        }
        if moe:
            config.update(num_local_experts=self.n_expert, num_experts_per_tok=self.n_expert_used,
                          router_aux_loss_coef=0.0, output_router_logits=False)
        else:
            config["mlp_bias"] = False
        return config


def _unpermute(w, n_head: int):
    """Inverse of convert_hf_to_gguf's LlamaModel.permute (rows regrouped within each head)."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _hf_tensors(reader, meta: _Meta, np) -> Iterator[tuple[str, tuple[int, ...], Callable]]:
    """(name, shape, load) per Hugging Face tensor; `load` dequantizes only when writing (memory)."""
    from gguf.quants import dequantize

    def loader(t, transform=None, index=None):
        def load():
            x = dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
            x = x.reshape(tuple(reversed([int(d) for d in t.shape])))
            if index is not None:
                x = x[index]
            return transform(x) if transform else x
        return load

    for t in reader.tensors:
        name = t.name
        shape = tuple(reversed([int(d) for d in t.shape]))  # GGUF ne0 first -> row-major (out, in)
        if name == "token_embd.weight":
            yield "model.embed_tokens.weight", shape, loader(t)
        elif name == "output_norm.weight":
            yield "model.norm.weight", shape, loader(t)
        elif name == "output.weight":
            yield "lm_head.weight", shape, loader(t)
        elif name.startswith("blk."):
            _, il, kind, _w = name.split(".", 3)
            prefix = f"model.layers.{il}."
            if kind in _EXPERT_NAMES:
                for e in range(shape[0]):
                    yield (f"{prefix}block_sparse_moe.experts.{e}.{_EXPERT_NAMES[kind]}.weight", shape[1:],
                           loader(t, index=e))
            elif kind in _LAYER_NAMES:
                transform = None
                if kind == "attn_q":
                    transform = lambda x: _unpermute(x, meta.n_head)  # noqa: E731
                elif kind == "attn_k":
                    transform = lambda x: _unpermute(x, meta.n_head_kv)  # noqa: E731
                yield prefix + _LAYER_NAMES[kind] + ".weight", shape, loader(t, transform)
            else:
                raise ModelError(f"export-hf: tensor {name} has no Hugging Face name here; this llama GGUF "
                                 "has parts the exporter does not know")
        else:
            raise ModelError(f"export-hf: tensor {name} has no Hugging Face name here")


def _encode(x, dtype: str, np) -> bytes:
    if dtype == "f32":
        return x.astype("<f4").tobytes()
    if dtype == "f16":
        return x.astype("<f2").tobytes()
    bits = np.ascontiguousarray(x, dtype="<f4").view("<u4")
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even, as torch's bf16 cast
    return rounded.astype("<u2").tobytes()


def _write_safetensors(folder: Path, tensors: list, dtype: str, np, say: Callable[[str], None]) -> int:
    """safetensors files (8-byte header size, JSON header, raw little-endian data), sharded with
    an index beyond SHARD_BYTES, written one tensor at a time."""
    st_dtype, width, _ = DTYPES[dtype]
    shards: list[list] = [[]]
    size = 0
    for item in tensors:
        n = width * _numel(item[1])
        if shards[-1] and size + n > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append(item)
        size += n
    weight_map, total = {}, 0
    for i, shard in enumerate(shards, start=1):
        fname = "model.safetensors" if len(shards) == 1 else f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name, shape, _ in shard:
            n = width * _numel(shape)
            header[name] = {"dtype": st_dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
            offset += n
            weight_map[name] = fname
        blob = json.dumps(header, separators=(",", ":")).encode()
        blob += b" " * (-len(blob) % 8)
        with open(folder / fname, "wb") as f:
            f.write(len(blob).to_bytes(8, "little"))
            f.write(blob)
            for j, (name, shape, load) in enumerate(shard):
                data = _encode(load(), dtype, np)
                if len(data) != width * _numel(shape):
                    raise ModelError(f"export-hf: {name} came out {len(data)} bytes, expected {width * _numel(shape)}")
                f.write(data)
                if j % 50 == 0:
                    say(f"export-hf: {fname}: {j + 1}/{len(shard)} tensors")
            f.flush()
            os.fsync(f.fileno())
        total += offset
    if len(shards) > 1:
        (folder / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    return total


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _tokenizer_files(meta: _Meta) -> dict[str, dict]:
    """tokenizer.json (byte-level BPE), tokenizer_config.json (chat template, special tokens),
    special_tokens_map.json."""
    special = [i for i, kind in enumerate(meta.token_types) if kind in (3, 4)]  # CONTROL, USER_DEFINED
    added = [{"id": i, "content": meta.tokens[i], "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": meta.token_types[i] == 3} for i in special]
    post = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    if meta.add_bos and meta.bos_id is not None:  # llama.cpp adds BOS itself when add_bos_token (llama-vocab.cpp)
        bos = meta.tokens[meta.bos_id]
        post = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bos: {"id": bos, "ids": [meta.bos_id], "tokens": [bos]}}}
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": PRE_TOKENIZERS[meta.pre]},
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {tok: i for i, tok in enumerate(meta.tokens)},
                  "merges": [m.split(" ", 1) for m in meta.merges]},
    }

    def tok(i):
        return meta.tokens[i] if i is not None and 0 <= i < len(meta.tokens) else None

    names = {"bos_token": tok(meta.bos_id), "eos_token": tok(meta.eos_id), "pad_token": tok(meta.pad_id),
             "unk_token": tok(meta.unk_id)}
    names = {k: v for k, v in names.items() if v is not None}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": meta.add_bos, "add_eos_token": False,
              "clean_up_tokenization_spaces": False, "model_max_length": meta.n_ctx, **names,
              "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in added}}
    if meta.chat_template:
        config["chat_template"] = meta.chat_template
    return {"tokenizer.json": tokenizer, "tokenizer_config.json": config, "special_tokens_map.json": names}
