"""A model's architecture facts, as llama.cpp's `llama_hparams` sees them.

Built three ways: `from_gguf` (a local GGUF header), `from_hf_config` (a Hugging Face config.json)
and through the catalog (whose entries are config.json excerpts fed to `from_hf_config`). The
planner derives every size from these fields; nothing else re-derives an architecture fact.
The Hugging Face builders follow what convert_hf_to_gguf.py (conversion/*.py at the pinned
llama.cpp) writes for each model type, so the facts describe the GGUF, not the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heavylift.errors import ModelError
from heavylift.models.gguf_file import GGUFFile

# Architectures whose pre-FFN norm llama.cpp names `post_attention_norm` (LLM_TENSOR_ATTN_POST_NORM)
# instead of `ffn_norm`: src/models/{qwen3next,qwen35moe,glm4-moe,openai-moe}.cpp load_arch_tensors.
POST_ATTENTION_NORM_ARCHS = frozenset({"qwen3next", "qwen35", "qwen35moe", "glm4moe", "gpt-oss"})


@dataclass
class ModelArch:
    name: str
    arch: str  # llama.cpp `general.architecture` (llama, qwen3moe, deepseek2, gpt-oss, qwen3next, ...)
    n_layer: int  # llama_hparams::n_layer(): the trunk, without MTP (nextn) blocks
    n_embd: int
    n_head: int
    n_head_kv: list[int]  # per layer; 0 for layers without a KV cache (recurrent layers)
    head_dim_k: int  # n_embd_head_k; for MLA: kv_lora_rank + qk_rope_head_dim (the cached latent)
    head_dim_v: int
    n_ff: int  # dense FFN width (0: none); DeepSeek/GLM leading dense layers, Llama 4 dense layers
    n_vocab: int
    n_ctx_train: int
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0
    n_ff_shexp: int = 0  # total shared-expert FFN width (0: none)
    n_layer_dense_lead: int = 0  # leading dense layers of a MoE (DeepSeek first_k_dense_replace)
    n_moe_layer_step: int = 1  # Llama 4 interleave_moe_layer_step: layer il is MoE when (il+1) % step == 0
    n_layer_nextn: int = 0  # MTP blocks the converter keeps after the trunk (loaded only for MTP drafting)
    nextn_has_embeddings: bool = False  # the MTP block carries its own embed_tokens / shared_head.head
    tied_embeddings: bool = False
    kv_lora_rank: int = 0  # MLA (DeepSeek): cached latent width
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim_mla: int = 0
    indexer_n_head: int = 0  # DeepSeek-V3.2 sparse attention (DSA) lightning indexer
    indexer_head_size: int = 0
    n_swa: int = 0  # sliding-window size (0: none); Llama 4's chunked attention uses the same cache sizing
    swa_layers: list[bool] = field(default_factory=list)
    recurrent_layers: list[bool] = field(default_factory=list)
    ssm_d_conv: int = 0
    ssm_d_inner: int = 0
    ssm_d_state: int = 0
    ssm_n_group: int = 0
    ssm_dt_rank: int = 0
    attn_output_gate: bool = False  # Qwen3-Next/3.5 gated attention: q projection is doubled
    qk_norm: str = ""  # "" none, "head" per-head RMSNorm weights, "full" (MiniMax-M2) over all heads
    has_qkv_bias: bool = False
    has_o_bias: bool = False
    has_expert_bias: bool = False  # exp_probs_b (DeepSeek-V3 e_score_correction_bias, GLM-4.5, MiniMax-M2)
    has_rope_freqs: bool = False  # rope_freqs.weight: llama3-type rope scaling (Llama 3.1, Llama 4 Scout)
    n_rot: int = 0  # rope dimensions (0: head_dim_k)
    is_llm_type_70b: bool = False  # llama.cpp LLM_TYPE_70B gets a wider attn_v in llama-quant.cpp
    # the type the released checkpoint stores its routed experts in, when the converter keeps it:
    # "MXFP4" for quantization_config.quant_method "mxfp4" (gpt-oss: conversion/gpt_oss.py repack_mxfp4)
    expert_source_type: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        self.swa_layers = self.swa_layers or [False] * self.n_layer
        self.recurrent_layers = self.recurrent_layers or [False] * self.n_layer
        for label, value in (("layers", self.n_layer), ("embedding", self.n_embd), ("heads", self.n_head),
                             ("vocabulary", self.n_vocab), ("context length", self.n_ctx_train)):
            if not isinstance(value, int) or value <= 0:
                raise ModelError(f"{self.name}: {label} is {value!r}; the model's config is incomplete or malformed")
        for label, value in (("experts", self.n_expert), ("experts per token", self.n_expert_used),
                             ("expert FFN width", self.n_ff_exp), ("FFN width", self.n_ff)):
            if not isinstance(value, int) or value < 0:
                raise ModelError(f"{self.name}: {label} is {value!r}; the model's config is incomplete or malformed")
        if self.n_expert and not 0 < self.n_expert_used <= self.n_expert:
            raise ModelError(f"{self.name}: {self.n_expert_used} experts per token of {self.n_expert}; "
                             "the model's config is inconsistent")
        if len(self.n_head_kv) != self.n_layer:
            raise ModelError(f"{self.name}: {len(self.n_head_kv)} KV head counts for {self.n_layer} layers; "
                             "the model's config is inconsistent")
        if any(h < 0 or (h and self.n_head % h) for h in self.n_head_kv):
            raise ModelError(f"{self.name}: {self.n_head} attention heads are not a multiple of the KV heads "
                             f"{max(self.n_head_kv)}; the model's config is inconsistent")

    # --- derived facts (llama-hparams.cpp) ---
    @property
    def n_layer_all(self) -> int:
        """llama_hparams::n_layer_all: GGUF block_count, MTP blocks included."""
        return self.n_layer + self.n_layer_nextn

    @property
    def is_moe(self) -> bool:
        return self.n_expert > 1

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def is_hybrid(self) -> bool:
        return any(self.recurrent_layers)

    def is_moe_layer(self, il: int) -> bool:
        step = max(self.n_moe_layer_step, 1)
        return self.is_moe and il >= self.n_layer_dense_lead and (il + 1) % step == 0

    def n_embd_k_gqa(self, il: int) -> int:
        """llama_hparams::n_embd_k_gqa: K row width cached per token in layer il.

        DeepSeek-V3.2 also caches the lightning indexer's key (llama-kv-cache-dsa.cpp: a second
        llama_kv_cache with one head of indexer_head_size, same type_k and cells), added here.
        """
        return self.head_dim_k * self.n_head_kv[il] + (self.indexer_head_size if self.n_head_kv[il] else 0)

    def n_embd_v_gqa(self, il: int) -> int:
        """llama_hparams::n_embd_v_gqa; MLA caches no V (llama-kv-cache.cpp: has_v = !is_mla)."""
        return 0 if self.is_mla else self.head_dim_v * self.n_head_kv[il]

    @property
    def n_gqa(self) -> int:
        """llama_hparams::n_gqa() of layer 0 (llama-quant.cpp reads it); GGUF head_count_kv is one number
        for the hybrid models, so the first attention layer's count stands for all."""
        kv = next((h for h in self.n_head_kv if h), 1)
        return self.n_head // kv

    @property
    def n_embd_r(self) -> int:
        """llama_hparams::n_embd_r: conv state floats per recurrent layer and sequence."""
        return max(self.ssm_d_conv - 1, 0) * (self.ssm_d_inner + 2 * self.ssm_n_group * self.ssm_d_state)

    @property
    def n_embd_s(self) -> int:
        """llama_hparams::n_embd_s: SSM / delta-net state floats per recurrent layer and sequence."""
        return self.ssm_d_state * self.ssm_d_inner

    # --- constructors ---
    @classmethod
    def from_gguf(cls, gguf: GGUFFile, name: str = "") -> ModelArch:
        g = gguf.get
        arch = gguf.architecture
        n_layer_all = _int(g("{arch}.block_count"), "block_count", name)
        n_nextn = int(g("{arch}.nextn_predict_layers", 0) or 0)
        n_layer = n_layer_all - n_nextn
        if n_layer <= 0:
            raise ModelError(f"{name or 'model'}: GGUF metadata has {n_layer_all} blocks of which {n_nextn} are MTP "
                             "blocks; the file is incomplete or not a model")
        check_counts(name or str(gguf.paths[0]), n_layer_all, g("{arch}.expert_count"))
        n_head = _max(g("{arch}.attention.head_count"))
        head_kv_raw = g("{arch}.attention.head_count_kv", n_head)
        n_head_kv = list(head_kv_raw)[:n_layer] if isinstance(head_kv_raw, list) else [int(head_kv_raw)] * n_layer
        n_embd = _int(g("{arch}.embedding_length"), "embedding_length", name)
        tokens = g("tokenizer.ggml.tokens")
        n_vocab = len(tokens) if tokens is not None else _int(g("{arch}.vocab_size"), "vocab_size", name)
        names = {t.name for t in gguf.tensors}
        kv_lora = int(g("{arch}.attention.kv_lora_rank", 0) or 0)
        rope_dim = int(g("{arch}.rope.dimension_count", 0) or 0)
        n_swa = int(g("{arch}.attention.sliding_window", 0) or 0)
        swa_layers = [False] * n_layer
        pattern = _SWA_PATTERN.get(arch)
        if arch == "llama4" and g("{arch}.attention.sliding_window") is None:
            n_swa = 8192  # llama4.cpp load_arch_hparams: chunked attention, 8192-token chunks, unless disabled
        if n_swa and pattern:
            swa_layers = [il % pattern < pattern - 1 for il in range(n_layer)]  # llama_hparams::set_swa_pattern
        recurrent = [False] * n_layer
        if arch in ("qwen3next", "qwen35", "qwen35moe"):
            interval = int(g("{arch}.full_attention_interval", 4) or 4)
            recurrent = [(il + 1) % interval != 0 for il in range(n_layer)]
        n_head_kv = [0 if recurrent[il] else n_head_kv[il] for il in range(n_layer)]
        if kv_lora:  # llama.cpp stores the MLA cache as one "head" of kv_lora_rank + rope dims
            n_head_kv = [1] * n_layer
        ff = g("{arch}.feed_forward_length", 0)
        n_expert_shared = int(g("{arch}.expert_shared_count", 0) or 0)
        n_ff_exp = int(_max(g("{arch}.expert_feed_forward_length", 0) or 0))
        shexp = int(g("{arch}.expert_shared_feed_forward_length", 0) or 0)
        if not shexp and n_expert_shared:  # deepseek2 / glm4moe: n_ff_exp * n_expert_shared
            shexp = n_ff_exp * n_expert_shared
        if arch == "llama4":  # llama4.cpp: the shared expert is as wide as a routed one
            shexp = n_ff_exp
        n_ff = _max(ff) if ff else 0
        if arch in ("llama", "minimax-m2") and int(g("{arch}.expert_count", 0) or 0) > 1:
            # llama.cpp/minimax-m2.cpp load_arch_tensors size the experts by feed_forward_length; no dense FFN
            n_ff_exp, n_ff = n_ff_exp or n_ff, 0
        return cls(
            name=name or str(g("general.name", "") or gguf.paths[0].stem),
            arch=arch, n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_head_kv=n_head_kv,
            head_dim_k=int(g("{arch}.attention.key_length", 0) or n_embd // max(n_head, 1)),
            head_dim_v=int(g("{arch}.attention.value_length", 0) or n_embd // max(n_head, 1)),
            n_ff=n_ff, n_vocab=n_vocab,
            n_ctx_train=_int(g("{arch}.context_length"), "context_length", name),
            n_expert=int(g("{arch}.expert_count", 0) or 0),
            n_expert_used=int(_max(g("{arch}.expert_used_count", 0) or 0)),
            n_ff_exp=n_ff_exp, n_ff_shexp=shexp,
            n_layer_dense_lead=int(g("{arch}.leading_dense_block_count", 0) or 0),
            n_moe_layer_step=int(g("{arch}.interleave_moe_layer_step", 1) or 1),
            n_layer_nextn=n_nextn,
            nextn_has_embeddings=any(".nextn.embed_tokens." in n for n in names),
            tied_embeddings="output.weight" not in names,
            kv_lora_rank=kv_lora, q_lora_rank=int(g("{arch}.attention.q_lora_rank", 0) or 0),
            qk_rope_head_dim=rope_dim if kv_lora else 0,
            indexer_n_head=int(g("{arch}.attention.indexer.head_count", 0) or 0),
            indexer_head_size=int(g("{arch}.attention.indexer.key_length", 0) or 0),
            n_swa=n_swa if any(swa_layers) else 0, swa_layers=swa_layers, recurrent_layers=recurrent,
            ssm_d_conv=int(g("{arch}.ssm.conv_kernel", 0) or 0), ssm_d_inner=int(g("{arch}.ssm.inner_size", 0) or 0),
            ssm_d_state=int(g("{arch}.ssm.state_size", 0) or 0), ssm_n_group=int(g("{arch}.ssm.group_count", 0) or 0),
            ssm_dt_rank=int(g("{arch}.ssm.time_step_rank", 0) or 0),
            has_rope_freqs="rope_freqs.weight" in names, n_rot=rope_dim,
            is_llm_type_70b=arch == "llama" and n_layer == 80 and n_head != max(n_head_kv),
            source=f"GGUF header of {gguf.paths[0]}",
        )

    @classmethod
    def from_hf_config(cls, config: dict[str, Any], name: str = "", source: str = "") -> ModelArch:
        """From a Hugging Face config.json (dict), as convert_hf_to_gguf.py would write the GGUF
        (models/hf_config.py). Raises ModelError naming what is missing or unsupported."""
        from heavylift.models.hf_config import from_hf_config

        return from_hf_config(config, name, source)


# llama_hparams::set_swa_pattern(n_pattern) per architecture (load_arch_hparams): the last layer of
# every n_pattern is full attention.
_SWA_PATTERN = {"gpt-oss": 2, "gemma3": 6, "llama4": 4}


LLAMA_MAX_LAYERS = 512  # src/llama-hparams.h
LLAMA_MAX_EXPERTS = 1024  # src/llama-hparams.h


def check_counts(name: str, n_layer: Any, n_expert: Any) -> None:
    """Refuse layer and expert counts llama.cpp cannot load, before anything is sized by them (a
    corrupt 145-million-layer config must not make the planner build 145 million layers)."""
    for label, value, limit in (("layers", n_layer, LLAMA_MAX_LAYERS), ("experts", n_expert, LLAMA_MAX_EXPERTS)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            continue  # absent or not a number: the builders say what is wrong with it
        if value > limit:
            raise ModelError(f"{name}: {value:g} {label}; llama.cpp loads at most {limit} "
                             "(LLAMA_MAX_LAYERS / LLAMA_MAX_EXPERTS): the file is corrupt or not a model")


# keys every builder divides or multiplies by: a positive whole number where present
_POSITIVE_KEYS = ("num_hidden_layers", "num_attention_heads", "hidden_size", "num_key_value_heads", "head_dim",
                  "vocab_size", "max_position_embeddings")


def check_config_numbers(name: str, cfg: dict[str, Any]) -> None:
    """A config.json's core sizes are positive whole numbers in llama.cpp's limits (checked before
    any builder computes with them)."""
    for key in _POSITIVE_KEYS:
        value = cfg.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value <= 0 \
                or value != int(value):
            raise ModelError(f"{name}: {key} is {value!r}; it must be a whole number greater than zero")
    check_counts(name, cfg.get("num_hidden_layers"),
                 cfg.get("num_experts") or cfg.get("n_routed_experts") or cfg.get("num_local_experts"))


def _int(value: Any, key: str, name: str) -> int:
    if value is None:
        raise ModelError(f"{name or 'model'}: GGUF metadata lacks {key}; the file is incomplete or not a model")
    return _max(value)


def _max(value: Any) -> int:
    return int(max(value)) if isinstance(value, list) and value else int(value)
