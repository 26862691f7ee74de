"""Tiny random-weight GGUFs of any architecture the planner knows, written from its own tensor table.

The metadata is what convert_hf_to_gguf.py writes for the architecture (conversion/*.py
set_gguf_parameters) and what llama.cpp's load_arch_hparams reads; the tensors are
`plan.tensor_table.tensor_table(arch)` with random values (F16 where the converter writes BF16:
numpy has no bfloat16). If llama.cpp loads the file, the planner's tensor names and shapes are
the ones the engine expects for that architecture. The vocabulary is a made-up SentencePiece one.
"""

from __future__ import annotations

from pathlib import Path

from heavylift.models.model_arch import ModelArch
from heavylift.models.tiny_gguf import finish_gguf
from heavylift.plan.tensor_table import tensor_table

# scaled-down config.json excerpts, one per model type the planner supports; the catalog's real
# configs have the same keys (tests/plan/test_catalog.py checks every entry builds)
TINY_CONFIGS: dict[str, dict] = {
    "llama": {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 3,
              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 4096,
              "rope_scaling": {"rope_type": "llama3"}},
    "mixtral": {"model_type": "mixtral", "hidden_size": 256, "intermediate_size": 256, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "num_local_experts": 8, "num_experts_per_tok": 2,
                "vocab_size": 512, "max_position_embeddings": 4096},
    "qwen2": {"model_type": "qwen2", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 4096},
    "qwen3": {"model_type": "qwen3", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 128, "vocab_size": 512,
              "max_position_embeddings": 4096},
    "qwen3_moe": {"model_type": "qwen3_moe", "hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
                  "num_key_value_heads": 2, "head_dim": 128, "num_experts": 8, "num_experts_per_tok": 2,
                  "moe_intermediate_size": 128, "vocab_size": 512, "max_position_embeddings": 4096},
    "qwen3_next": {"model_type": "qwen3_next", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
                   "num_key_value_heads": 2, "head_dim": 64, "full_attention_interval": 4, "linear_num_key_heads": 2,
                   "linear_num_value_heads": 4, "linear_key_head_dim": 32, "linear_value_head_dim": 32,
                   "linear_conv_kernel_dim": 4, "num_experts": 8, "num_experts_per_tok": 2,
                   "moe_intermediate_size": 128, "shared_expert_intermediate_size": 128, "vocab_size": 512,
                   "max_position_embeddings": 4096},
    "qwen3_5_moe": {"model_type": "qwen3_5_moe", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
                    "num_key_value_heads": 2, "head_dim": 64, "full_attention_interval": 4, "linear_num_key_heads": 2,
                    "linear_num_value_heads": 4, "linear_key_head_dim": 32, "linear_value_head_dim": 32,
                    "linear_conv_kernel_dim": 4, "num_experts": 8, "num_experts_per_tok": 2,
                    "moe_intermediate_size": 128, "shared_expert_intermediate_size": 128, "mtp_num_hidden_layers": 1,
                    "vocab_size": 512, "max_position_embeddings": 4096},
    "qwen3_5": {"model_type": "qwen3_5", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 4,
                "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "full_attention_interval": 4,
                "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 32,
                "linear_value_head_dim": 32, "linear_conv_kernel_dim": 4, "mtp_num_hidden_layers": 1,
                "vocab_size": 512, "max_position_embeddings": 4096},
    "glm4_moe_lite": {"model_type": "glm4_moe_lite", "hidden_size": 256, "intermediate_size": 512,
                      "moe_intermediate_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4,
                      "num_key_value_heads": 4, "n_routed_experts": 8, "n_shared_experts": 1,
                      "num_experts_per_tok": 2, "first_k_dense_replace": 1, "q_lora_rank": 128, "kv_lora_rank": 64,
                      "qk_nope_head_dim": 48, "qk_rope_head_dim": 32, "v_head_dim": 64, "topk_method": "noaux_tc",
                      "num_nextn_predict_layers": 1, "vocab_size": 512, "max_position_embeddings": 4096},
    "deepseek_v3": {"model_type": "deepseek_v3", "hidden_size": 256, "intermediate_size": 512,
                    "moe_intermediate_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4,
                    "num_key_value_heads": 4, "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2,
                    "first_k_dense_replace": 1, "q_lora_rank": 128, "kv_lora_rank": 64, "qk_nope_head_dim": 32,
                    "qk_rope_head_dim": 32, "v_head_dim": 32, "topk_method": "noaux_tc",
                    "num_nextn_predict_layers": 1, "vocab_size": 512, "max_position_embeddings": 4096},
    "deepseek_v32": {"model_type": "deepseek_v32", "hidden_size": 256, "intermediate_size": 512,
                     "moe_intermediate_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4,
                     "num_key_value_heads": 4, "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2,
                     "first_k_dense_replace": 1, "q_lora_rank": 128, "kv_lora_rank": 64, "qk_nope_head_dim": 32,
                     "qk_rope_head_dim": 32, "v_head_dim": 32, "index_n_heads": 4, "index_head_dim": 64,
                     "index_topk": 64, "num_nextn_predict_layers": 1, "vocab_size": 512,
                     "max_position_embeddings": 4096},
    "glm4_moe": {"model_type": "glm4_moe", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 3,
                 "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "moe_intermediate_size": 128,
                 "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1,
                 "use_qk_norm": True, "attention_bias": True, "num_nextn_predict_layers": 1, "vocab_size": 512,
                 "max_position_embeddings": 4096},
    "minimax_m2": {"model_type": "minimax_m2", "hidden_size": 256, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "rotary_dim": 32,
                   "num_local_experts": 8, "num_experts_per_tok": 2, "use_qk_norm": True, "vocab_size": 512,
                   "max_position_embeddings": 4096},
    "gpt_oss": {"model_type": "gpt_oss", "hidden_size": 256, "intermediate_size": 256, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "num_local_experts": 8,
                "num_experts_per_tok": 2, "sliding_window": 128, "vocab_size": 512, "max_position_embeddings": 4096},
    "llama4": {"model_type": "llama4_text", "hidden_size": 256, "intermediate_size": 128,
               "intermediate_size_mlp": 512, "num_hidden_layers": 4, "num_attention_heads": 4,
               "num_key_value_heads": 2, "head_dim": 64, "num_local_experts": 8, "num_experts_per_tok": 1,
               "interleave_moe_layer_step": 2, "vocab_size": 512, "max_position_embeddings": 16384,
               "rope_scaling": {"rope_type": "llama3"}},
    "gemma3": {"model_type": "gemma3_text", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 6,
               "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "sliding_window": 256,
               "vocab_size": 512, "max_position_embeddings": 8192},
}


def tiny_arch(model_type: str) -> ModelArch:
    return ModelArch.from_hf_config(TINY_CONFIGS[model_type], name=f"tiny-{model_type}")


def _metadata(w, a: ModelArch) -> None:
    """The hyperparameters llama.cpp reads for `a.arch` (llama-model.cpp load_hparams + load_arch_hparams)."""
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


def write_arch_gguf(path: Path, a: ModelArch, seed: int = 0) -> Path:
    """Write `a` as a GGUF with random weights to `path` (atomically) and return it."""
    import numpy as np
    from gguf import GGUFWriter

    from tests.plan.tiny_gguf import add_spm_vocab

    rng = np.random.default_rng(seed)
    tmp = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    w = GGUFWriter(str(tmp), arch=a.arch)
    w.add_name(a.name)
    w.add_file_type(1)  # LLAMA_FTYPE_MOSTLY_F16
    _metadata(w, a)
    add_spm_vocab(w, a.n_vocab)
    for t in tensor_table(a):
        numpy_shape = tuple(reversed(t.shape))
        if t.ggml_type.name == "F32":
            data = (np.ones(numpy_shape, dtype=np.float32) if "norm" in t.name
                    else (rng.standard_normal(numpy_shape, dtype=np.float32) * 0.02))
        else:
            data = (rng.standard_normal(numpy_shape, dtype=np.float32) * 0.02).astype(np.float16)
        w.add_tensor(t.name, data)
    return finish_gguf(w, tmp, path)
