"""Built-in catalog: the config.json values of each model that the planner reads.

Each entry is an excerpt of the Hugging Face config.json of the named repository (only the keys
heavylift uses), fed to `ModelArch.from_hf_config`. Values were written from the published
configs; `source` says where each came from and flags any value not checked against the file.
"""

from __future__ import annotations

CATALOG: dict[str, dict] = {
    "qwen3-235b-a22b": {
        "hf_repo": "Qwen/Qwen3-235B-A22B-Instruct-2507",
        "source": "config.json of Qwen/Qwen3-235B-A22B-Instruct-2507 (the 2507 release: native 262144 context; "
                  "the original Qwen3-235B-A22B config has max_position_embeddings 40960)",
        "config": {"model_type": "qwen3_moe", "hidden_size": 4096, "intermediate_size": 12288,
                   "num_hidden_layers": 94, "num_attention_heads": 64, "num_key_value_heads": 4, "head_dim": 128,
                   "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 1536,
                   "vocab_size": 151936, "max_position_embeddings": 262144, "tie_word_embeddings": False},
    },
    "qwen3.5-397b-a17b": {
        "hf_repo": "Qwen/Qwen3.5-397B-A17B",
        "source": "Qwen/Qwen3.5-397B-A17B model card / config.json text_config as recalled (60 layers = 15 x "
                  "(3 Gated DeltaNet + 1 gated attention), 512 experts top-10 + 1 shared); not re-checked "
                  "against the file in this build: verify vocab_size (248320) and head counts before buying hardware",
        "config": {"model_type": "qwen3_5_moe", "hidden_size": 4096, "num_hidden_layers": 60,
                   "num_attention_heads": 32, "num_key_value_heads": 2, "head_dim": 256,
                   "full_attention_interval": 4, "linear_num_key_heads": 16, "linear_num_value_heads": 64,
                   "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4,
                   "num_experts": 512, "num_experts_per_tok": 10, "moe_intermediate_size": 1024,
                   "shared_expert_intermediate_size": 1024, "vocab_size": 248320,
                   "max_position_embeddings": 262144, "tie_word_embeddings": False},
    },
    "qwen3-30b-a3b": {
        "hf_repo": "Qwen/Qwen3-30B-A3B-Instruct-2507",
        "source": "config.json of Qwen/Qwen3-30B-A3B-Instruct-2507 (2507 release: native 262144 context)",
        "config": {"model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144,
                   "num_hidden_layers": 48, "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
                   "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768,
                   "vocab_size": 151936, "max_position_embeddings": 262144, "tie_word_embeddings": False},
    },
    "qwen3-next-80b-a3b": {
        "hf_repo": "Qwen/Qwen3-Next-80B-A3B-Instruct",
        "source": "config.json of Qwen/Qwen3-Next-80B-A3B-Instruct (hybrid: every 4th layer gated attention, "
                  "others Gated DeltaNet; 512 experts top-10 + shared expert)",
        "config": {"model_type": "qwen3_next", "hidden_size": 2048, "num_hidden_layers": 48,
                   "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256,
                   "full_attention_interval": 4, "linear_num_key_heads": 16, "linear_num_value_heads": 32,
                   "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4,
                   "num_experts": 512, "num_experts_per_tok": 10, "moe_intermediate_size": 512,
                   "shared_expert_intermediate_size": 512, "vocab_size": 151936,
                   "max_position_embeddings": 262144, "tie_word_embeddings": False},
    },
    "deepseek-v3": {
        "hf_repo": "deepseek-ai/DeepSeek-V3",
        "source": "config.json of deepseek-ai/DeepSeek-V3 (MLA; 3 dense lead layers; the MTP layer is not "
                  "converted to GGUF by convert_hf_to_gguf.py and is left out)",
        "config": {"model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432,
                   "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 128,
                   "num_key_value_heads": 128, "n_routed_experts": 256, "n_shared_experts": 1,
                   "num_experts_per_tok": 8, "first_k_dense_replace": 3, "q_lora_rank": 1536,
                   "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
                   "vocab_size": 129280, "max_position_embeddings": 163840, "tie_word_embeddings": False},
    },
    "gpt-oss-120b": {
        "hf_repo": "openai/gpt-oss-120b",
        "source": "config.json of openai/gpt-oss-120b (alternating 128-token sliding-window and full layers, "
                  "attention sinks; released with MXFP4 experts: use --quant MXFP4_MOE for the official GGUF)",
        "config": {"model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2880,
                   "num_hidden_layers": 36, "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64,
                   "num_local_experts": 128, "num_experts_per_tok": 4, "sliding_window": 128,
                   "vocab_size": 201088, "max_position_embeddings": 131072, "tie_word_embeddings": False},
    },
    "llama-3.1-70b": {
        "hf_repo": "meta-llama/Llama-3.1-70B-Instruct",
        "source": "config.json of meta-llama/Llama-3.1-70B-Instruct",
        "config": {"model_type": "llama", "hidden_size": 8192, "intermediate_size": 28672,
                   "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8,
                   "vocab_size": 128256, "max_position_embeddings": 131072, "tie_word_embeddings": False},
    },
    "mixtral-8x7b": {
        "hf_repo": "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "source": "config.json of mistralai/Mixtral-8x7B-Instruct-v0.1",
        "config": {"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336,
                   "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                   "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32000,
                   "max_position_embeddings": 32768, "tie_word_embeddings": False},
    },
    "smollm2-135m-instruct": {
        "hf_repo": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "source": "config.json of HuggingFaceTB/SmolLM2-135M-Instruct (heavylift's default model; its GGUF "
                  "header agrees: 30 layers, 576 embd, 9/3 heads, 8192 ctx)",
        "config": {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
                   "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
                   "vocab_size": 49152, "max_position_embeddings": 8192, "tie_word_embeddings": True},
    },
}

ALIASES: dict[str, str] = {
    "qwen3-235b": "qwen3-235b-a22b", "qwen3.5-397b": "qwen3.5-397b-a17b", "qwen3.5-397b-a17b-instruct": "qwen3.5-397b-a17b",
    "qwen3-30b": "qwen3-30b-a3b", "qwen3-next-80b": "qwen3-next-80b-a3b", "deepseek-v3.1": "deepseek-v3",
    "llama-3.1-70b-instruct": "llama-3.1-70b", "mixtral-8x7b-instruct": "mixtral-8x7b", "smollm2-135m": "smollm2-135m-instruct",
}
