"""What `heavylift models info` reports, read from the GGUF header alone."""

from __future__ import annotations

from dataclasses import dataclass, field

from heavylift.models.ggml_types import LLAMA_FTYPES
from heavylift.models.gguf_file import GGUFFile


@dataclass
class ModelInfo:
    name: str
    architecture: str
    n_params: int
    file_type: str  # general.file_type as llama.h names it, or "unknown"
    tensor_types: dict[str, int]
    context_length: int | None
    n_layers: int | None
    n_embd: int | None
    n_heads: int | None
    n_kv_heads: int | None
    n_experts: int | None
    n_experts_used: int | None
    file_bytes: int
    tensor_bytes: int
    tokenizer: str | None
    vocab_size: int | None
    has_chat_template: bool
    paths: list[str] = field(default_factory=list)

    @classmethod
    def from_gguf(cls, gguf: GGUFFile, name: str = "") -> ModelInfo:
        def per_layer(value):
            # Some architectures store a per-layer array (e.g. head_count_kv for hybrid models).
            return max(value) if isinstance(value, list) and value else value

        ftype = gguf.get("general.file_type")
        tokens = gguf.get("tokenizer.ggml.tokens")
        return cls(
            name=name or str(gguf.get("general.name", "")),
            architecture=gguf.architecture,
            n_params=gguf.n_params,
            file_type=LLAMA_FTYPES.get(ftype, "unknown") if ftype is not None else "unknown",
            tensor_types=gguf.tensor_type_counts(),
            context_length=gguf.get("{arch}.context_length"),
            n_layers=gguf.get("{arch}.block_count"),
            n_embd=gguf.get("{arch}.embedding_length"),
            n_heads=per_layer(gguf.get("{arch}.attention.head_count")),
            n_kv_heads=per_layer(gguf.get("{arch}.attention.head_count_kv")),
            n_experts=gguf.get("{arch}.expert_count"),
            n_experts_used=gguf.get("{arch}.expert_used_count"),
            file_bytes=gguf.file_bytes,
            tensor_bytes=gguf.tensor_bytes,
            tokenizer=gguf.get("tokenizer.ggml.model"),
            vocab_size=len(tokens) if tokens is not None else gguf.get("{arch}.vocab_size"),
            has_chat_template=gguf.get("tokenizer.chat_template") is not None,
            paths=[str(p) for p in gguf.paths],
        )
