"""Qwen3, Qwen3-2507, Qwen3-Next and Qwen3.5 MoE models (dense Qwen models are in dense.py)."""

from __future__ import annotations

_QWEN3_REPORT = "Qwen3 Technical Report Table 1/2 (https://arxiv.org/abs/2505.09388, as shipped in github.com/QwenLM/Qwen3)"
_COPY = "read as a verbatim copy in public code"

_QWEN3_235B = {"model_type": "qwen3_moe", "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 94,
               "num_attention_heads": 64, "num_key_value_heads": 4, "head_dim": 128, "num_experts": 128,
               "num_experts_per_tok": 8, "moe_intermediate_size": 1536, "vocab_size": 151936,
               "max_position_embeddings": 40960, "tie_word_embeddings": False}
_QWEN3_30B = {"model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 48,
              "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "num_experts": 128,
              "num_experts_per_tok": 8, "moe_intermediate_size": 768, "vocab_size": 151936,
              "max_position_embeddings": 40960, "tie_word_embeddings": False}

ENTRIES: dict[str, dict] = {
    "qwen3-235b-a22b": {
        "hf_repo": "Qwen/Qwen3-235B-A22B",
        "source": f"config.json of Qwen/Qwen3-235B-A22B (https://huggingface.co/Qwen/Qwen3-235B-A22B/blob/main/config.json, "
                  f"{_COPY}); layers, heads, experts, 235B/22B and the context (32,768 native, 131,072 with YaRN: "
                  f"max_position_embeddings 40960 leaves room for the output) on the model card "
                  f"https://huggingface.co/Qwen/Qwen3-235B-A22B and in the {_QWEN3_REPORT}",
        "config": _QWEN3_235B,
        "reference": {"total": "235B", "active": "22B", "url": "https://huggingface.co/Qwen/Qwen3-235B-A22B"},
        "gguf_params": {"total": "235.09B", "url": "https://github.com/lhl/strix-halo-testing/blob/5ee14b5b0ecf/llm-bench/Qwen3-235B-A22B-Instruct-2507-UD-Q3_K_XL/README.md", "counts": "file"},
    },
    "qwen3-235b-a22b-2507": {
        "hf_repo": "Qwen/Qwen3-235B-A22B-Instruct-2507",
        "source": "config.json of Qwen/Qwen3-235B-A22B-Instruct-2507 (https://huggingface.co/Qwen/Qwen3-235B-A22B-"
                  f"Instruct-2507/blob/main/config.json, {_COPY}): the 2507 update keeps the architecture and raises "
                  "max_position_embeddings to 262144 (256K native, github.com/QwenLM/Qwen3 README)",
        "config": {**_QWEN3_235B, "max_position_embeddings": 262144},
        "reference": {"total": "235B", "active": "22B", "url": "https://huggingface.co/Qwen/Qwen3-235B-A22B-Instruct-2507"},
        "gguf_params": {"total": "235.09B", "url": "https://github.com/lhl/strix-halo-testing/blob/5ee14b5b0ecf/llm-bench/Qwen3-235B-A22B-Instruct-2507-UD-Q3_K_XL/README.md", "counts": "file"},
    },
    "qwen3-30b-a3b": {
        "hf_repo": "Qwen/Qwen3-30B-A3B",
        "source": f"config.json of Qwen/Qwen3-30B-A3B (https://huggingface.co/Qwen/Qwen3-30B-A3B/blob/main/config.json, "
                  f"{_COPY}); layers, heads, experts and context also in the {_QWEN3_REPORT}",
        "config": _QWEN3_30B,
        "reference": {"total": "30B", "active": "3B", "url": "https://huggingface.co/Qwen/Qwen3-30B-A3B",
                      "note": "the figures of the model name"},
        "gguf_params": {"total": "30.53B", "url": "https://github.com/lhl/strix-halo-testing/blob/5ee14b5b0ecf/llm-bench/Qwen3-30B-A3B-UD-Q4_K_XL/README.md", "counts": "file"},
    },
    "qwen3-30b-a3b-2507": {
        "hf_repo": "Qwen/Qwen3-30B-A3B-Instruct-2507",
        "source": "config.json of Qwen/Qwen3-30B-A3B-Instruct-2507 (https://huggingface.co/Qwen/Qwen3-30B-A3B-Instruct-"
                  f"2507/blob/main/config.json, {_COPY}): the architecture of Qwen3-30B-A3B with "
                  "max_position_embeddings 262144 (github.com/QwenLM/Qwen3 README serves it with --context-length 262144)",
        "config": {**_QWEN3_30B, "max_position_embeddings": 262144},
        "reference": {"total": "30B", "active": "3B", "url": "https://huggingface.co/Qwen/Qwen3-30B-A3B-Instruct-2507",
                      "note": "the figures of the model name"},
    },
    "qwen3-next-80b-a3b": {
        "hf_repo": "Qwen/Qwen3-Next-80B-A3B-Instruct",
        "source": "Qwen/Qwen3-Next-80B-A3B-Instruct: hidden 2048, 48 layers as 12 x (3 Gated DeltaNet + 1 gated "
                  "attention), 16 Q / 2 KV heads of 256, 512 experts top-10 + 1 shared, expert width 512, vocabulary "
                  "151936, 262,144 context, 80B total / 3B active (model card https://huggingface.co/Qwen/Qwen3-Next-"
                  "80B-A3B-Instruct and copies of its config.json in public code); convert_hf_to_gguf.py keeps its "
                  "one MTP block (conversion/qwen.py _QwenMtpMixin). The linear-attention V head count and head "
                  "dims and the shared-expert width were read only in partial copies; built from them, the tensor "
                  "table gives exactly the 79.67 B llama.cpp printed for the real GGUF",
        "config": {"model_type": "qwen3_next", "hidden_size": 2048, "num_hidden_layers": 48,
                   "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256,
                   "full_attention_interval": 4, "linear_num_key_heads": 16, "linear_num_value_heads": 32,
                   "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4,
                   "num_experts": 512, "num_experts_per_tok": 10, "moe_intermediate_size": 512,
                   "shared_expert_intermediate_size": 512, "vocab_size": 151936,
                   "max_position_embeddings": 262144, "tie_word_embeddings": False},
        "reference": {"total": "80B", "active": "3B", "url": "https://huggingface.co/Qwen/Qwen3-Next-80B-A3B-Instruct"},
        "gguf_params": {"total": "79.67B", "url": "https://github.com/kyuz0/amd-r9700-ai-toolboxes/blob/8ad62bcda86d/benchmark/results/Qwen3-Next-80B-A3B-Instruct-UD-Q4_K_XL__rocm-7.9__fa1__dual.log", "counts": "loaded", "note": "that GGUF has no MTP block"},
    },
    "qwen3.5-397b-a17b": {
        "hf_repo": "Qwen/Qwen3.5-397B-A17B",
        "source": "text_config of Qwen/Qwen3.5-397B-A17B (https://huggingface.co/Qwen/Qwen3.5-397B-A17B/blob/main/"
                  f"config.json, {_COPY}, several copies agree) and the model card's architecture table (as reproduced "
                  "in https://huggingface.co/mlx-community/Qwen3.5-397B-A17B-4bit): 60 layers = 15 x (3 Gated "
                  "DeltaNet + 1 full attention), hidden 4096, 32 Q / 2 KV heads of 256, linear attention 16 QK / 64 V "
                  "heads of 128, 512 experts, 10 routed + 1 shared, expert width 1024, vocabulary 248320, 262,144 "
                  "context; the GGUF keeps one MTP block (conversion/qwen.py) and leaves the vision encoder to mmproj",
        "unverified": ["mtp_num_hidden_layers"],
        "config": {"model_type": "qwen3_5_moe", "hidden_size": 4096, "num_hidden_layers": 60,
                   "num_attention_heads": 32, "num_key_value_heads": 2, "head_dim": 256,
                   "full_attention_interval": 4, "linear_num_key_heads": 16, "linear_num_value_heads": 64,
                   "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4,
                   "num_experts": 512, "num_experts_per_tok": 10, "moe_intermediate_size": 1024,
                   "shared_expert_intermediate_size": 1024, "vocab_size": 248320, "mtp_num_hidden_layers": 1,
                   "max_position_embeddings": 262144, "tie_word_embeddings": False},
        "reference": {"total": "397B", "active": "17B", "url": "https://huggingface.co/Qwen/Qwen3.5-397B-A17B",
                      "note": "the published total includes the vision encoder"},
    },
    "qwen3.5-122b-a10b": {
        "hf_repo": "Qwen/Qwen3.5-122B-A10B",
        "source": "Qwen/Qwen3.5-122B-A10B: hidden 3072, 48 layers (3:1 Gated DeltaNet : full attention), 32 Q / 2 KV "
                  "heads of 256, 256 experts, 8 routed + 1 shared, expert width 1024, vocabulary 248320, 262,144 "
                  "context, 122B total / 10B active (model card https://huggingface.co/Qwen/Qwen3.5-122B-A10B, as "
                  "reproduced on public model pages); linear attention 16 QK / 64 V heads of 128 and conv kernel 4 "
                  "from a copy of its config in public code",
        "unverified": ["mtp_num_hidden_layers"],
        "config": {"model_type": "qwen3_5_moe", "hidden_size": 3072, "num_hidden_layers": 48,
                   "num_attention_heads": 32, "num_key_value_heads": 2, "head_dim": 256,
                   "full_attention_interval": 4, "linear_num_key_heads": 16, "linear_num_value_heads": 64,
                   "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4,
                   "num_experts": 256, "num_experts_per_tok": 8, "moe_intermediate_size": 1024,
                   "shared_expert_intermediate_size": 1024, "vocab_size": 248320, "mtp_num_hidden_layers": 1,
                   "max_position_embeddings": 262144, "tie_word_embeddings": False},
        "reference": {"total": "122B", "active": "10B", "url": "https://huggingface.co/Qwen/Qwen3.5-122B-A10B",
                      "note": "the published total includes the vision encoder"},
        "gguf_params": {"total": "122.11B", "url": "https://github.com/kyuz0/amd-strix-halo-toolboxes/blob/d1a34bee0900/benchmark/results/Qwen3.5-122B-A10B-UD-Q5_K_XL-00001-of-00003__vulkan_radv__fa1.log", "counts": "loaded", "note": "that GGUF has no MTP block"},
    },
    "qwen3-coder-30b-a3b": {
        "hf_repo": "Qwen/Qwen3-Coder-30B-A3B-Instruct",
        "source": "config.json of Qwen/Qwen3-Coder-30B-A3B-Instruct (https://huggingface.co/Qwen/Qwen3-Coder-30B-A3B-"
                  f"Instruct/blob/main/config.json, {_COPY}): Qwen3-30B-A3B's shapes with 262144 positions",
        "config": {**_QWEN3_30B, "max_position_embeddings": 262144},
        "reference": {"total": "30B", "active": "3B", "url": "https://huggingface.co/Qwen/Qwen3-Coder-30B-A3B-Instruct",
                      "note": "the figures of the model name"},
        "gguf_params": {"total": "30.53B", "url": "https://github.com/ggml-org/llama.cpp/blob/0c1e57098/benches/dgx-spark/dgx-spark.md", "counts": "file"},
    },
    "qwen3.6-35b-a3b": {
        "hf_repo": "Qwen/Qwen3.6-35B-A3B",
        "source": "text_config of Qwen/Qwen3.6-35B-A3B (https://huggingface.co/Qwen/Qwen3.6-35B-A3B/blob/main/config.json, "
                  f"{_COPY}; Qwen3.5-35B-A3B's is the same): 40 layers (3:1 Gated DeltaNet : gated attention), "
                  "hidden 2048, 16 Q / 2 KV heads of 256, linear attention 16 QK / 32 V heads of 128, 256 experts "
                  "top-8 + 1 shared of width 512, one MTP layer, 262144 positions; vocab_size 248320, not read in that "
                  "copy, is confirmed by the parameter count llama.cpp printed for the real GGUF (35.51 B)",
        "config": {"model_type": "qwen3_5_moe", "hidden_size": 2048, "num_hidden_layers": 40,
                   "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256,
                   "full_attention_interval": 4, "linear_num_key_heads": 16, "linear_num_value_heads": 32,
                   "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4,
                   "num_experts": 256, "num_experts_per_tok": 8, "moe_intermediate_size": 512,
                   "shared_expert_intermediate_size": 512, "vocab_size": 248320, "mtp_num_hidden_layers": 1,
                   "max_position_embeddings": 262144, "tie_word_embeddings": False},
        "reference": {"total": "35B", "active": "3B", "url": "https://huggingface.co/Qwen/Qwen3.6-35B-A3B",
                      "note": "the figures of the model name, vision encoder included"},
        "gguf_params": {"total": "35.51B", "url": "https://github.com/kyuz0/amd-strix-halo-toolboxes/blob/d1a34bee0900/benchmark/results/Qwen3.6-35B-A3B-UD-Q4_K_XL__vulkan_radv__fa1.log", "counts": "file"},
    },
    "qwen3.6-27b": {
        "hf_repo": "Qwen/Qwen3.6-27B",
        "source": "text_config of Qwen/Qwen3.6-27B (https://huggingface.co/Qwen/Qwen3.6-27B/blob/main/config.json, "
                  f"{_COPY}): dense, 64 layers (3:1 Gated DeltaNet : gated attention), hidden 5120, FFN 17408, "
                  "24 Q / 4 KV heads of 256, linear attention 16 QK / 48 V heads of 128, vocabulary 248320, one MTP "
                  "layer, 262144 positions; llama.cpp architecture qwen35 (src/models/qwen35.cpp)",
        "config": {"model_type": "qwen3_5", "hidden_size": 5120, "intermediate_size": 17408, "num_hidden_layers": 64,
                   "num_attention_heads": 24, "num_key_value_heads": 4, "head_dim": 256,
                   "full_attention_interval": 4, "linear_num_key_heads": 16, "linear_num_value_heads": 48,
                   "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4,
                   "vocab_size": 248320, "mtp_num_hidden_layers": 1, "max_position_embeddings": 262144,
                   "tie_word_embeddings": False},
        "reference": {"total": "27B", "url": "https://huggingface.co/Qwen/Qwen3.6-27B",
                      "note": "the figure of the model name, vision encoder included"},
        "gguf_params": {"total": "27.32B", "url": "https://github.com/kyuz0/amd-strix-halo-toolboxes/blob/d1a34bee0900/benchmark/results/Qwen3.6-27B-UD-Q8_K_XL__vulkan_radv__fa1.log", "counts": "file"},
    },
}

ALIASES: dict[str, str] = {
    "qwen3-235b": "qwen3-235b-a22b", "qwen3-235b-2507": "qwen3-235b-a22b-2507",
    "qwen3-235b-a22b-instruct-2507": "qwen3-235b-a22b-2507", "qwen3-235b-a22b-thinking-2507": "qwen3-235b-a22b-2507",
    "qwen3-30b": "qwen3-30b-a3b", "qwen3-30b-2507": "qwen3-30b-a3b-2507",
    "qwen3-30b-a3b-instruct-2507": "qwen3-30b-a3b-2507", "qwen3-30b-a3b-thinking-2507": "qwen3-30b-a3b-2507",
    "qwen3-next-80b": "qwen3-next-80b-a3b", "qwen3-next-80b-a3b-instruct": "qwen3-next-80b-a3b",
    "qwen3-next-80b-a3b-thinking": "qwen3-next-80b-a3b",
    "qwen3.5-397b": "qwen3.5-397b-a17b", "qwen3.5-397b-a17b-instruct": "qwen3.5-397b-a17b",
    "qwen3.5-122b": "qwen3.5-122b-a10b",
    "qwen3-coder-30b-a3b-instruct": "qwen3-coder-30b-a3b", "qwen3.6-35b": "qwen3.6-35b-a3b",
    "qwen3.5-35b-a3b": "qwen3.6-35b-a3b", "qwen3.6-27b-instruct": "qwen3.6-27b",
}
