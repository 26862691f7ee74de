"""A model's architecture facts, as llama.cpp's `llama_hparams` sees them.

Built three ways: `from_gguf` (a local GGUF header), `from_hf_config` (a Hugging Face config.json)
and through the catalog (whose entries are config.json excerpts fed to `from_hf_config`). The
planner derives every size from these fields; nothing else re-derives an architecture fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heavylift.errors import ModelError
from heavylift.models.gguf_file import GGUFFile


@dataclass
class ModelArch:
    name: str
    arch: str  # llama.cpp `general.architecture` (llama, qwen3moe, deepseek2, gpt-oss, qwen3next, ...)
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: list[int]  # per layer; 0 for layers without a KV cache (recurrent layers)
    head_dim_k: int  # n_embd_head_k; for MLA: kv_lora_rank + qk_rope_head_dim (the cached latent)
    head_dim_v: int
    n_ff: int  # dense FFN width (0: none)
    n_vocab: int
    n_ctx_train: int
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0
    n_ff_shexp: int = 0  # total shared-expert FFN width (0: none)
    n_layer_dense_lead: int = 0  # leading dense layers of a MoE (DeepSeek first_k_dense_replace)
    tied_embeddings: bool = False
    kv_lora_rank: int = 0  # MLA (DeepSeek): cached latent width
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim_mla: int = 0
    n_swa: int = 0  # sliding-window size (0: none)
    swa_layers: list[bool] = field(default_factory=list)
    recurrent_layers: list[bool] = field(default_factory=list)
    ssm_d_conv: int = 0
    ssm_d_inner: int = 0
    ssm_d_state: int = 0
    ssm_n_group: int = 0
    ssm_dt_rank: int = 0
    attn_output_gate: bool = False  # Qwen3-Next/3.5 gated attention: q projection is doubled
    has_qk_norm: bool = False
    has_attn_bias: bool = False
    is_llm_type_70b: bool = False  # llama.cpp LLM_TYPE_70B gets a wider attn_v in llama-quant.cpp
    source: str = ""

    def __post_init__(self) -> None:
        self.swa_layers = self.swa_layers or [False] * self.n_layer
        self.recurrent_layers = self.recurrent_layers or [False] * self.n_layer
        for label, value in (("layers", self.n_layer), ("embedding", self.n_embd), ("heads", self.n_head),
                             ("vocabulary", self.n_vocab), ("context length", self.n_ctx_train)):
            if not isinstance(value, int) or value <= 0:
                raise ModelError(f"{self.name}: {label} is {value!r}; the model's config is incomplete or malformed")

    # --- derived facts (llama-hparams.cpp) ---
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
        return self.is_moe and il >= self.n_layer_dense_lead

    def n_embd_k_gqa(self, il: int) -> int:
        """llama_hparams::n_embd_k_gqa: K row width cached per token in layer il."""
        return self.head_dim_k * self.n_head_kv[il]

    def n_embd_v_gqa(self, il: int) -> int:
        """llama_hparams::n_embd_v_gqa; MLA caches no V (llama-kv-cache.cpp: has_v = !is_mla)."""
        return 0 if self.is_mla else self.head_dim_v * self.n_head_kv[il]

    @property
    def n_gqa(self) -> int:
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
        n_layer = _int(g("{arch}.block_count"), "block_count", name)
        check_counts(name or str(gguf.paths[0]), n_layer, g("{arch}.expert_count"))
        n_head = _max(g("{arch}.attention.head_count"))
        head_kv_raw = g("{arch}.attention.head_count_kv", n_head)
        n_head_kv = list(head_kv_raw) if isinstance(head_kv_raw, list) else [int(head_kv_raw)] * n_layer
        n_embd = _int(g("{arch}.embedding_length"), "embedding_length", name)
        tokens = g("tokenizer.ggml.tokens")
        n_vocab = len(tokens) if tokens is not None else _int(g("{arch}.vocab_size"), "vocab_size", name)
        names = {t.name for t in gguf.tensors}
        kv_lora = int(g("{arch}.attention.kv_lora_rank", 0) or 0)
        rope_dim = int(g("{arch}.rope.dimension_count", 0) or 0)
        n_swa = int(g("{arch}.attention.sliding_window", 0) or 0)
        swa_layers = [False] * n_layer
        if n_swa and arch == "gpt-oss":
            swa_layers = [il % 2 == 0 for il in range(n_layer)]  # llama-model.cpp: set_swa_pattern(2)
        recurrent = [False] * n_layer
        if arch in ("qwen3next", "qwen35", "qwen35moe"):
            interval = int(g("{arch}.full_attention_interval", 4) or 4)
            recurrent = [(il + 1) % interval != 0 for il in range(n_layer)]
        n_head_kv = [0 if recurrent[il] else n_head_kv[il] for il in range(n_layer)]
        if kv_lora:  # llama.cpp stores the MLA cache as one "head" of kv_lora_rank + rope dims
            n_head_kv = [1] * n_layer
        ff = g("{arch}.feed_forward_length", 0)
        return cls(
            name=name or str(g("general.name", "") or gguf.paths[0].stem),
            arch=arch, n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_head_kv=n_head_kv,
            head_dim_k=int(g("{arch}.attention.key_length", 0) or n_embd // max(n_head, 1)),
            head_dim_v=int(g("{arch}.attention.value_length", 0) or n_embd // max(n_head, 1)),
            n_ff=_max(ff) if ff else 0, n_vocab=n_vocab,
            n_ctx_train=_int(g("{arch}.context_length"), "context_length", name),
            n_expert=int(g("{arch}.expert_count", 0) or 0),
            n_expert_used=int(g("{arch}.expert_used_count", 0) or 0),
            n_ff_exp=int(g("{arch}.expert_feed_forward_length", 0) or 0),
            n_ff_shexp=int(g("{arch}.expert_shared_feed_forward_length", 0) or 0)
            * max(int(g("{arch}.expert_shared_count", 1) or 1), 1),
            n_layer_dense_lead=int(g("{arch}.leading_dense_block_count", 0) or 0),
            tied_embeddings="output.weight" not in names,
            kv_lora_rank=kv_lora, q_lora_rank=int(g("{arch}.attention.q_lora_rank", 0) or 0),
            qk_rope_head_dim=rope_dim if kv_lora else 0,
            n_swa=n_swa, swa_layers=swa_layers, recurrent_layers=recurrent,
            ssm_d_conv=int(g("{arch}.ssm.conv_kernel", 0) or 0), ssm_d_inner=int(g("{arch}.ssm.inner_size", 0) or 0),
            ssm_d_state=int(g("{arch}.ssm.state_size", 0) or 0), ssm_n_group=int(g("{arch}.ssm.group_count", 0) or 0),
            ssm_dt_rank=int(g("{arch}.ssm.time_step_rank", 0) or 0),
            is_llm_type_70b=arch == "llama" and n_layer == 80,
            source=f"GGUF header of {gguf.paths[0]}",
        )

    @classmethod
    def from_hf_config(cls, config: dict[str, Any], name: str = "", source: str = "") -> ModelArch:
        """From a Hugging Face config.json (dict). Raises ModelError naming what is missing."""
        if not isinstance(config, dict):
            raise ModelError(f"{name or 'config.json'}: not a JSON object; give a Hugging Face config.json")
        cfg = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
        model_type = str(config.get("model_type") or cfg.get("model_type") or "")
        builder = _HF_BUILDERS.get(model_type.removesuffix("_text"))
        check_config_numbers(name or "config.json", cfg)
        if builder is None:
            known = ", ".join(sorted(_HF_BUILDERS))
            raise ModelError(f"{name or 'config.json'}: model_type {model_type!r} is not supported by the planner "
                             f"(supported: {known}); give a GGUF file instead")
        try:
            return builder(cfg, name or str(config.get("_name_or_path") or model_type), source or "config.json")
        except KeyError as e:
            raise ModelError(f"{name or 'config.json'}: config.json lacks {e.args[0]!r}; is it a complete "
                             "Hugging Face config?") from None
        except (TypeError, ValueError) as e:
            raise ModelError(f"{name or 'config.json'}: malformed config.json value ({e}); fix or re-download it") from None


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


def _common(cfg: dict, name: str, source: str, arch: str, **kw: Any) -> ModelArch:
    n_layer, n_head = int(cfg["num_hidden_layers"]), int(cfg["num_attention_heads"])
    n_embd = int(cfg["hidden_size"])
    head_dim = int(cfg.get("head_dim") or n_embd // n_head)
    n_kv = int(cfg.get("num_key_value_heads") or n_head)
    values: dict[str, Any] = dict(
        name=name, arch=arch, n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_head_kv=[n_kv] * n_layer,
        head_dim_k=head_dim, head_dim_v=head_dim, n_ff=int(cfg.get("intermediate_size") or 0),
        n_vocab=int(cfg["vocab_size"]), n_ctx_train=int(cfg["max_position_embeddings"]),
        tied_embeddings=bool(cfg.get("tie_word_embeddings", False)), source=source,
    )
    values.update(kw)
    return ModelArch(**values)


def _llama(cfg: dict, name: str, source: str) -> ModelArch:
    n_layer = int(cfg["num_hidden_layers"])
    return _common(cfg, name, source, "llama", is_llm_type_70b=n_layer == 80,
                   has_attn_bias=bool(cfg.get("attention_bias", False)))


def _mixtral(cfg: dict, name: str, source: str) -> ModelArch:
    # convert_hf_to_gguf.py writes Mixtral as arch "llama" with merged ffn_*_exps tensors
    return _common(cfg, name, source, "llama", n_expert=int(cfg["num_local_experts"]),
                   n_expert_used=int(cfg["num_experts_per_tok"]), n_ff_exp=int(cfg["intermediate_size"]), n_ff=0)


def _qwen3(cfg: dict, name: str, source: str) -> ModelArch:
    return _common(cfg, name, source, "qwen3", has_qk_norm=True)


def _qwen3moe(cfg: dict, name: str, source: str) -> ModelArch:
    return _common(cfg, name, source, "qwen3moe", has_qk_norm=True, n_ff=0,
                   n_expert=int(cfg["num_experts"]), n_expert_used=int(cfg["num_experts_per_tok"]),
                   n_ff_exp=int(cfg["moe_intermediate_size"]))


def _qwen3next(cfg: dict, name: str, source: str, arch: str = "qwen3next") -> ModelArch:
    n_layer = int(cfg["num_hidden_layers"])
    if "layer_types" in cfg:
        recurrent = [t == "linear_attention" for t in cfg["layer_types"]]
    else:
        interval = int(cfg.get("full_attention_interval", 4))
        recurrent = [(il + 1) % interval != 0 for il in range(n_layer)]
    n_kv = int(cfg["num_key_value_heads"])
    k_heads, v_heads = int(cfg["linear_num_key_heads"]), int(cfg["linear_num_value_heads"])
    v_dim = int(cfg["linear_value_head_dim"])
    return _common(cfg, name, source, arch, has_qk_norm=True, attn_output_gate=True, n_ff=0,
                   n_head_kv=[0 if r else n_kv for r in recurrent], recurrent_layers=recurrent,
                   n_expert=int(cfg["num_experts"]), n_expert_used=int(cfg["num_experts_per_tok"]),
                   n_ff_exp=int(cfg["moe_intermediate_size"]),
                   n_ff_shexp=int(cfg.get("shared_expert_intermediate_size") or 0),
                   # llama-model.cpp (qwen3next hparams): d_conv = linear_conv_kernel_dim, d_inner = v heads * v dim,
                   # d_state = key head dim, n_group = key heads, dt_rank = value heads
                   ssm_d_conv=int(cfg["linear_conv_kernel_dim"]), ssm_d_inner=v_heads * v_dim,
                   ssm_d_state=int(cfg["linear_key_head_dim"]), ssm_n_group=k_heads, ssm_dt_rank=v_heads)


def _qwen35moe(cfg: dict, name: str, source: str) -> ModelArch:
    return _qwen3next(cfg, name, source, arch="qwen35moe")


def _deepseek(cfg: dict, name: str, source: str) -> ModelArch:
    n_layer = int(cfg["num_hidden_layers"])
    kv_lora, rope = int(cfg["kv_lora_rank"]), int(cfg["qk_rope_head_dim"])
    n_shared = int(cfg.get("n_shared_experts") or 0)
    return _common(cfg, name, source, "deepseek2", n_head_kv=[1] * n_layer,
                   head_dim_k=kv_lora + rope, head_dim_v=kv_lora,  # llama.cpp MLA: latent + rope dims cached
                   n_expert=int(cfg["n_routed_experts"]), n_expert_used=int(cfg["num_experts_per_tok"]),
                   n_ff_exp=int(cfg["moe_intermediate_size"]), n_ff_shexp=n_shared * int(cfg["moe_intermediate_size"]),
                   n_layer_dense_lead=int(cfg.get("first_k_dense_replace") or 0),
                   kv_lora_rank=kv_lora, q_lora_rank=int(cfg.get("q_lora_rank") or 0), qk_rope_head_dim=rope,
                   qk_nope_head_dim=int(cfg["qk_nope_head_dim"]), v_head_dim_mla=int(cfg["v_head_dim"]))


def _gpt_oss(cfg: dict, name: str, source: str) -> ModelArch:
    n_layer = int(cfg["num_hidden_layers"])
    types = cfg.get("layer_types") or ["sliding_attention" if il % 2 == 0 else "full_attention" for il in range(n_layer)]
    return _common(cfg, name, source, "gpt-oss", n_ff=0, has_attn_bias=True,
                   n_expert=int(cfg["num_local_experts"]), n_expert_used=int(cfg["num_experts_per_tok"]),
                   n_ff_exp=int(cfg["intermediate_size"]), n_swa=int(cfg["sliding_window"]),
                   swa_layers=[t == "sliding_attention" for t in types])


_HF_BUILDERS = {
    "llama": _llama, "mistral": _llama, "mixtral": _mixtral, "qwen3": _qwen3, "qwen3_moe": _qwen3moe,
    "qwen3_next": _qwen3next, "qwen3_5_moe": _qwen35moe, "deepseek_v3": _deepseek, "deepseek_v2": _deepseek,
    "gpt_oss": _gpt_oss,
}
