"""Hugging Face config.json -> ModelArch, one builder per model type, following what
convert_hf_to_gguf.py (conversion/*.py at the pinned llama.cpp) writes for it: the architecture
llama.cpp will run, which blocks the file keeps (MTP), which optional tensors exist."""

from __future__ import annotations

from typing import Any

from heavylift.errors import ModelError
from heavylift.models.model_arch import ModelArch, check_config_numbers

# model types whose GGUF llama.cpp cannot run at the pinned version: the planner refuses them
UNSUPPORTED: dict[str, str] = {}


def from_hf_config(config: dict[str, Any], name: str = "", source: str = "") -> ModelArch:
    """From a Hugging Face config.json (dict). Raises ModelError naming what is missing."""
    if not isinstance(config, dict):
        raise ModelError(f"{name or 'config.json'}: not a JSON object; give a Hugging Face config.json")
    cfg = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    model_type = str(cfg.get("model_type") or config.get("model_type") or "").removesuffix("_text")
    if model_type in UNSUPPORTED:
        raise ModelError(f"{name or 'config.json'}: {UNSUPPORTED[model_type]}")
    builder = _HF_BUILDERS.get(model_type) or _HF_BUILDERS.get(str(config.get("model_type") or ""))
    check_config_numbers(name or "config.json", cfg)  # llama.cpp's limits, before anything is sized by them
    if builder is None:
        known = ", ".join(sorted(_HF_BUILDERS))
        raise ModelError(f"{name or 'config.json'}: model_type {model_type!r} is not supported by the planner "
                         f"(supported: {known}); give a GGUF file instead")
    try:
        return builder(cfg, name or str(config.get("_name_or_path") or model_type), source or "config.json")
    except KeyError as e:
        raise ModelError(f"{name or 'config.json'}: config.json lacks {e.args[0]!r}; is it a complete "
                         "Hugging Face config?") from None
    except (TypeError, ValueError, ZeroDivisionError, AttributeError) as e:
        raise ModelError(f"{name or 'config.json'}: malformed config.json value ({e}); fix or re-download it") from None


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
    # conversion/base.py: quant_method "mxfp4" checkpoints keep their MXFP4 experts in the GGUF
    if ((cfg.get("quantization_config") or {}).get("quant_method") or "").lower() == "mxfp4":
        values["expert_source_type"] = "MXFP4"
    values.update(kw)
    return ModelArch(**values)


def _rope_type(cfg: dict) -> str:
    rope = cfg.get("rope_scaling") or cfg.get("rope_parameters") or {}
    rope = rope if isinstance(rope, dict) else {}
    return str(rope.get("rope_type") or rope.get("type") or "")


def _llama(cfg: dict, name: str, source: str) -> ModelArch:
    # conversion/llama.py: llama3-type rope scaling is written as a rope_freqs tensor (generate_extra_tensors)
    n_layer, n_head = int(cfg["num_hidden_layers"]), int(cfg["num_attention_heads"])
    n_kv = int(cfg.get("num_key_value_heads") or n_head)
    return _common(cfg, name, source, "llama", is_llm_type_70b=n_layer == 80 and n_head != n_kv,
                   has_qkv_bias=bool(cfg.get("attention_bias", False)), has_o_bias=bool(cfg.get("attention_bias", False)),
                   has_rope_freqs=_rope_type(cfg) == "llama3")


def _mixtral(cfg: dict, name: str, source: str) -> ModelArch:
    # convert_hf_to_gguf.py writes Mixtral as arch "llama" with merged ffn_*_exps tensors
    return _common(cfg, name, source, "llama", n_expert=int(cfg["num_local_experts"]),
                   n_expert_used=int(cfg["num_experts_per_tok"]), n_ff_exp=int(cfg["intermediate_size"]), n_ff=0)


def _qwen2(cfg: dict, name: str, source: str) -> ModelArch:
    return _common(cfg, name, source, "qwen2", has_qkv_bias=True)  # Qwen2 q/k/v projections carry biases


def _qwen3(cfg: dict, name: str, source: str) -> ModelArch:
    return _common(cfg, name, source, "qwen3", qk_norm="head")


def _qwen3moe(cfg: dict, name: str, source: str) -> ModelArch:
    return _common(cfg, name, source, "qwen3moe", qk_norm="head", n_ff=0,
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
    # conversion/qwen.py _QwenMtpMixin: the MTP block(s) are kept (block_count += n_mtp); Qwen3-Next's
    # config has no mtp_num_hidden_layers, the converter counts the checkpoint's mtp.layers.* (one).
    n_mtp = int(cfg.get("mtp_num_hidden_layers", 1) or 0)
    return _common(cfg, name, source, arch, qk_norm="head", attn_output_gate=True, n_ff=0,
                   n_head_kv=[0 if r else n_kv for r in recurrent], recurrent_layers=recurrent,
                   n_expert=int(cfg["num_experts"]), n_expert_used=int(cfg["num_experts_per_tok"]),
                   n_ff_exp=int(cfg["moe_intermediate_size"]),
                   n_ff_shexp=int(cfg.get("shared_expert_intermediate_size") or 0), n_layer_nextn=n_mtp,
                   # llama-model.cpp (qwen3next hparams): d_conv = linear_conv_kernel_dim, d_inner = v heads * v dim,
                   # d_state = key head dim, n_group = key heads, dt_rank = value heads
                   ssm_d_conv=int(cfg["linear_conv_kernel_dim"]), ssm_d_inner=v_heads * v_dim,
                   ssm_d_state=int(cfg["linear_key_head_dim"]), ssm_n_group=k_heads, ssm_dt_rank=v_heads)


def _qwen35moe(cfg: dict, name: str, source: str) -> ModelArch:
    return _qwen3next(cfg, name, source, arch="qwen35moe")


def _qwen35(cfg: dict, name: str, source: str) -> ModelArch:
    """Dense Qwen3.5/3.6 (src/models/qwen35.cpp): the qwen35moe layout with a dense FFN."""
    moe_keys = {"num_experts": 0, "num_experts_per_tok": 0, "moe_intermediate_size": 0}
    a = _qwen3next({**cfg, **moe_keys}, name, source, arch="qwen35")
    a.n_ff = int(cfg["intermediate_size"])
    return a


def _deepseek(cfg: dict, name: str, source: str, arch: str = "deepseek2", keep_mtp: bool = False) -> ModelArch:
    n_layer = int(cfg["num_hidden_layers"])
    kv_lora, rope = int(cfg["kv_lora_rank"]), int(cfg["qk_rope_head_dim"])
    n_shared = int(cfg.get("n_shared_experts") or 0)
    # conversion/deepseek.py: DeepseekV2Model skips the MTP layers (skip_mtp); DeepseekV32Model and
    # conversion/glm.py Glm4MoeLiteModel (GLM-4.7-Flash, written as deepseek2) keep them
    n_mtp = int(cfg.get("num_nextn_predict_layers") or 0) if keep_mtp or arch == "deepseek32" else 0
    return _common(cfg, name, source, arch, n_head_kv=[1] * n_layer,
                   head_dim_k=kv_lora + rope, head_dim_v=kv_lora,  # llama.cpp MLA: latent + rope dims cached
                   n_expert=int(cfg["n_routed_experts"]), n_expert_used=int(cfg["num_experts_per_tok"]),
                   n_ff_exp=int(cfg["moe_intermediate_size"]), n_ff_shexp=n_shared * int(cfg["moe_intermediate_size"]),
                   n_layer_dense_lead=int(cfg.get("first_k_dense_replace") or 0),
                   kv_lora_rank=kv_lora, q_lora_rank=int(cfg.get("q_lora_rank") or 0), qk_rope_head_dim=rope,
                   qk_nope_head_dim=int(cfg["qk_nope_head_dim"]), v_head_dim_mla=int(cfg["v_head_dim"]),
                   # noaux_tc routing has a per-expert score bias (e_score_correction_bias -> exp_probs_b)
                   has_expert_bias=cfg.get("topk_method") == "noaux_tc" or arch == "deepseek32",
                   n_layer_nextn=n_mtp, nextn_has_embeddings=n_mtp > 0,
                   indexer_n_head=int(cfg.get("index_n_heads") or 0) if arch == "deepseek32" else 0,
                   indexer_head_size=int(cfg.get("index_head_dim") or 0) if arch == "deepseek32" else 0)


def _deepseek32(cfg: dict, name: str, source: str) -> ModelArch:
    return _deepseek(cfg, name, source, arch="deepseek32")


def _glm4_moe_lite(cfg: dict, name: str, source: str) -> ModelArch:
    return _deepseek(cfg, name, source, keep_mtp=True)


def _glm4moe(cfg: dict, name: str, source: str) -> ModelArch:
    # conversion/glm.py Glm4MoeModel: MTP block kept (block_count += num_nextn_predict_layers), shared
    # expert width n_ff_exp * n_shared_experts, exp_probs_b required (glm4-moe.cpp)
    n_ff_exp = int(cfg["moe_intermediate_size"])
    n_mtp = int(cfg.get("num_nextn_predict_layers") or 0)
    return _common(cfg, name, source, "glm4moe", n_expert=int(cfg["n_routed_experts"]),
                   n_expert_used=int(cfg["num_experts_per_tok"]), n_ff_exp=n_ff_exp,
                   n_ff_shexp=int(cfg.get("n_shared_experts") or 0) * n_ff_exp,
                   n_layer_dense_lead=int(cfg.get("first_k_dense_replace") or 0), has_expert_bias=True,
                   qk_norm="head" if cfg.get("use_qk_norm") else "", has_qkv_bias=bool(cfg.get("attention_bias")),
                   n_layer_nextn=n_mtp, nextn_has_embeddings=n_mtp > 0)


def _minimax_m2(cfg: dict, name: str, source: str) -> ModelArch:
    # conversion/minimax.py: intermediate_size is the per-expert width; minimax-m2.cpp: q/k norms over
    # all heads, exp_probs_b required, output not tied
    return _common(cfg, name, source, "minimax-m2", n_ff=0, n_expert=int(cfg["num_local_experts"]),
                   n_expert_used=int(cfg["num_experts_per_tok"]), n_ff_exp=int(cfg["intermediate_size"]),
                   qk_norm="full" if cfg.get("use_qk_norm", True) else "", has_expert_bias=True,
                   n_rot=int(cfg.get("rotary_dim") or 0), tied_embeddings=False)


def _gpt_oss(cfg: dict, name: str, source: str) -> ModelArch:
    n_layer = int(cfg["num_hidden_layers"])
    types = cfg.get("layer_types") or ["sliding_attention" if il % 2 == 0 else "full_attention" for il in range(n_layer)]
    return _common(cfg, name, source, "gpt-oss", n_ff=0, has_qkv_bias=True, has_o_bias=True,
                   n_expert=int(cfg["num_local_experts"]), n_expert_used=int(cfg["num_experts_per_tok"]),
                   n_ff_exp=int(cfg["intermediate_size"]), n_swa=int(cfg["sliding_window"]),
                   swa_layers=[t == "sliding_attention" for t in types])


def _llama4(cfg: dict, name: str, source: str) -> ModelArch:
    # conversion/llama.py Llama4Model: intermediate_size_mlp is the dense width, intermediate_size the
    # expert width; llama4.cpp: chunked attention in 3 of every 4 layers with 8192-token chunks
    n_layer = int(cfg["num_hidden_layers"])
    chunk = int(cfg.get("attention_chunk_size") or 8192)
    return _common(cfg, name, source, "llama4", n_ff=int(cfg["intermediate_size_mlp"]),
                   n_expert=int(cfg["num_local_experts"]), n_expert_used=int(cfg["num_experts_per_tok"]),
                   n_ff_exp=int(cfg["intermediate_size"]), n_ff_shexp=int(cfg["intermediate_size"]),
                   n_moe_layer_step=int(cfg.get("interleave_moe_layer_step") or 1),
                   n_swa=chunk, swa_layers=[il % 4 < 3 for il in range(n_layer)],
                   has_rope_freqs=_rope_type(cfg) == "llama3")


def _gemma3(cfg: dict, name: str, source: str) -> ModelArch:
    # gemma3.cpp: sliding window in 5 of every 6 layers, q/k norms, post-attention and post-FFN norms,
    # output tied to token_embd; conversion/gemma.py trims embed_tokens to the tokenizer's vocabulary
    n_layer = int(cfg["num_hidden_layers"])
    pattern = int(cfg.get("sliding_window_pattern") or 6)
    # Gemma3TextConfig defaults for keys google's configs leave out; the GGUF's vocabulary is the
    # tokenizer's 262144 entries, not config.json's padded 262208
    defaults = {"tie_word_embeddings": True, "max_position_embeddings": 131072, "vocab_size": 262144}
    cfg = {**defaults, **cfg}
    if int(cfg["vocab_size"]) == 262208:  # Gemma 3's padded embedding; conversion/gemma.py trims it
        cfg["vocab_size"] = 262144
    return _common(cfg, name, source, "gemma3",
                   qk_norm="head", n_swa=int(cfg["sliding_window"]),
                   swa_layers=[il % pattern < pattern - 1 for il in range(n_layer)])


_HF_BUILDERS = {
    "llama": _llama, "mistral": _llama, "mixtral": _mixtral, "qwen2": _qwen2, "qwen3": _qwen3, "qwen3_moe": _qwen3moe,
    "qwen3_next": _qwen3next, "qwen3_5": _qwen35, "qwen3_5_moe": _qwen35moe, "deepseek_v3": _deepseek,
    "deepseek_v2": _deepseek, "kimi_k2": _deepseek, "deepseek_v32": _deepseek32, "glm4_moe": _glm4moe,
    "glm4_moe_lite": _glm4_moe_lite, "minimax_m2": _minimax_m2,
    "gpt_oss": _gpt_oss, "llama4": _llama4, "gemma3": _gemma3,
}
