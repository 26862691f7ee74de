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
from heavylift.models.tiny_gguf import add_arch_metadata, finish_gguf
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
    add_arch_metadata(w, a)
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
