"""Other MoE families: GLM-4.5/4.6, MiniMax-M2, gpt-oss, Llama 4, Mixtral."""

from __future__ import annotations

_COPY = "read as a verbatim copy in public code"
_GLM_README = "github.com/zai-org/GLM-4.5 README"

_GLM45 = {"model_type": "glm4_moe", "hidden_size": 5120, "intermediate_size": 12288, "num_hidden_layers": 92,
          "num_attention_heads": 96, "num_key_value_heads": 8, "head_dim": 128, "moe_intermediate_size": 1536,
          "n_routed_experts": 160, "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
          "use_qk_norm": True, "attention_bias": True, "num_nextn_predict_layers": 1, "vocab_size": 151552,
          "max_position_embeddings": 131072, "tie_word_embeddings": False}
_GLM_NOTE = ("convert_hf_to_gguf.py keeps the MTP layer (conversion/glm.py Glm4MoeModel); with its own embed_tokens "
             "and shared_head.head, as DeepSeek-V3's, the tensor table gives exactly the 110.47 B llama.cpp printed "
             "for a real GLM-4.5-Air GGUF")
_GPT_OSS = {"model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2880, "num_hidden_layers": 36,
            "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64, "num_local_experts": 128,
            "num_experts_per_tok": 4, "sliding_window": 128, "vocab_size": 201088,
            "max_position_embeddings": 131072, "tie_word_embeddings": False,
            "quantization_config": {"quant_method": "mxfp4"}}
_GPT_OSS_NOTE = ("alternating 128-token sliding-window and full layers, attention sinks; released with MXFP4 experts "
                 "(config.json quantization_config.quant_method \"mxfp4\"), which every GGUF keeps: --quant types the "
                 "other tensors; MXFP4_MOE is the official GGUF")
_LLAMA4 = {"model_type": "llama4_text", "hidden_size": 5120, "intermediate_size": 8192,
           "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
           "num_key_value_heads": 8, "head_dim": 128, "num_local_experts": 16, "num_experts_per_tok": 1,
           "interleave_moe_layer_step": 1, "attention_chunk_size": 8192, "vocab_size": 202048,
           "max_position_embeddings": 10485760, "tie_word_embeddings": False,
           "rope_scaling": {"rope_type": "llama3", "factor": 16.0}}
_LLAMA4_NOTE = ("github.com/meta-llama/llama-models models/llama4/MODEL_CARD.md: 17B active, 109B (Scout) / 400B "
                "(Maverick) total including the vision encoder, which the GGUF leaves to mmproj; llama.cpp uses "
                "8192-token chunked attention in 3 of every 4 layers (src/models/llama4.cpp)")

ENTRIES: dict[str, dict] = {
    "glm-4.5": {
        "hf_repo": "zai-org/GLM-4.5",
        "source": f"config.json of zai-org/GLM-4.5 (https://huggingface.co/zai-org/GLM-4.5/blob/main/config.json, "
                  f"{_COPY}); 355B total / 32B active and 128K context in the {_GLM_README}; {_GLM_NOTE}",
        "config": _GLM45,
        "reference": {"total": "355B", "active": "32B", "url": "https://github.com/zai-org/GLM-4.5"},
    },
    "glm-4.6": {
        "hf_repo": "zai-org/GLM-4.6",
        "source": f"config.json of zai-org/GLM-4.6 (https://huggingface.co/zai-org/GLM-4.6/blob/main/config.json, "
                  f"{_COPY}): GLM-4.5's architecture with max_position_embeddings 202752 ({_GLM_README}: context "
                  f"raised from 128K to 200K, 355B-A32B); {_GLM_NOTE}",
        "config": {**_GLM45, "max_position_embeddings": 202752},
        "reference": {"total": "355B", "active": "32B", "url": "https://github.com/zai-org/GLM-4.5"},
    },
    "glm-4.5-air": {
        "hf_repo": "zai-org/GLM-4.5-Air",
        "source": "config.json of zai-org/GLM-4.5-Air (https://huggingface.co/zai-org/GLM-4.5-Air/blob/main/"
                  f"config.json, {_COPY}, no q/k norm); 106B total / 12B active and 128K context in the "
                  f"{_GLM_README}; {_GLM_NOTE}",
        "config": {**_GLM45, "hidden_size": 4096, "intermediate_size": 10944, "num_hidden_layers": 46,
                   "moe_intermediate_size": 1408, "n_routed_experts": 128, "first_k_dense_replace": 1,
                   "use_qk_norm": False},
        "reference": {"total": "106B", "active": "12B", "url": "https://github.com/zai-org/GLM-4.5"},
        "gguf_params": {"total": "110.47B", "url": "https://github.com/lhl/strix-halo-testing/blob/5ee14b5b0ecf/llm-bench/GLM-4.5-Air-UD-Q4_K_XL/README.md", "counts": "file"},
    },
    "minimax-m2": {
        "hf_repo": "MiniMaxAI/MiniMax-M2",
        "source": "config.json of MiniMaxAI/MiniMax-M2 (https://huggingface.co/MiniMaxAI/MiniMax-M2/blob/main/"
                  f"config.json, {_COPY}: 62 layers, hidden 3072, 48 Q / 8 KV heads of 128, rotary_dim 64, 256 "
                  "experts top-8 of width 1536, vocabulary 200064, per-layer q/k norm, routing bias); 230B total / "
                  "10B active in github.com/MiniMax-AI/MiniMax-M2 README; the MTP modules are not converted "
                  "(conversion/minimax.py); two copies give max_position_embeddings 196608, a third 204800",
        "unverified": ["max_position_embeddings"],
        "config": {"model_type": "minimax_m2", "hidden_size": 3072, "intermediate_size": 1536,
                   "num_hidden_layers": 62, "num_attention_heads": 48, "num_key_value_heads": 8, "head_dim": 128,
                   "rotary_dim": 64, "num_local_experts": 256, "num_experts_per_tok": 8, "use_qk_norm": True,
                   "vocab_size": 200064, "max_position_embeddings": 196608, "tie_word_embeddings": False},
        "reference": {"total": "230B", "active": "10B", "url": "https://github.com/MiniMax-AI/MiniMax-M2"},
        "gguf_params": {"total": "228.69B", "url": "https://github.com/kyuz0/amd-strix-halo-toolboxes/blob/d1a34bee0900/benchmark/results/MiniMax-M2.7-UD-Q3_K_S-00001-of-00003__vulkan_radv__fa1.log", "counts": "file", "note": "printed for MiniMax-M2.7, the same architecture"},
    },
    "gpt-oss-120b": {
        "hf_repo": "openai/gpt-oss-120b",
        "source": "github.com/openai/gpt-oss gpt_oss/torch/model.py ModelConfig (the 120b: 36 layers, 128 experts "
                  "top-4, hidden and expert width 2880, 64 Q / 8 KV heads of 64, 128-token window, vocabulary 201088, "
                  "4096 x rope factor 32 = 131072 positions) and its README (117B / 5.1B active); "
                  f"{_GPT_OSS_NOTE}",
        "config": _GPT_OSS,
        "reference": {"total": "117B", "active": "5.1B", "url": "https://github.com/openai/gpt-oss"},
        "gguf_params": {"total": "116.83B", "url": "https://github.com/ggml-org/llama.cpp/blob/0c1e57098/benches/dgx-spark/dgx-spark.md", "counts": "file"},
    },
    "gpt-oss-20b": {
        "hf_repo": "openai/gpt-oss-20b",
        "source": "config.json of openai/gpt-oss-20b (https://huggingface.co/openai/gpt-oss-20b/blob/main/config.json, "
                  f"{_COPY}: 24 layers, 32 experts top-4, the 120b's other dimensions, 131072 positions); "
                  f"github.com/openai/gpt-oss README: 21B / 3.6B active; {_GPT_OSS_NOTE}",
        "config": {**_GPT_OSS, "num_hidden_layers": 24, "num_local_experts": 32},
        "reference": {"total": "21B", "active": "3.6B", "url": "https://github.com/openai/gpt-oss"},
        "gguf_params": {"total": "20.91B", "url": "https://github.com/ggml-org/llama.cpp/blob/0c1e57098/benches/dgx-spark/dgx-spark.md", "counts": "file"},
    },
    "llama-4-scout": {
        "hf_repo": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
        "source": "text_config of meta-llama/Llama-4-Scout-17B-16E-Instruct (https://huggingface.co/meta-llama/Llama-"
                  f"4-Scout-17B-16E-Instruct/blob/main/config.json, {_COPY}: 48 layers, hidden 5120, 40 Q / 8 KV "
                  "heads of 128, 16 experts top-1 + shared expert in every layer, expert width 8192, dense width "
                  "16384, vocabulary 202048, 10485760 positions, llama3 rope scaling factor 16 -> a rope_freqs "
                  f"tensor); {_LLAMA4_NOTE}",
        "config": _LLAMA4,
        "reference": {"total": "109B", "active": "17B", "url": "https://github.com/meta-llama/llama-models/blob/main/"
                      "models/llama4/MODEL_CARD.md", "note": "the published total includes the vision encoder"},
        "gguf_params": {"total": "107.77B", "url": "https://github.com/lhl/strix-halo-testing/blob/5ee14b5b0ecf/llm-bench/Llama-4-Scout-17B-16E-Instruct-UD-Q4_K_XL/README.md", "counts": "file"},
    },
    "llama-4-maverick": {
        "hf_repo": "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
        "source": "text_config of meta-llama/Llama-4-Maverick-17B-128E-Instruct (https://huggingface.co/meta-llama/"
                  f"Llama-4-Maverick-17B-128E-Instruct/blob/main/config.json, {_COPY}: Scout's dimensions with 128 "
                  "experts in every 2nd layer (interleave_moe_layer_step 2), dense layers between, 1048576 positions, "
                  f"no rope scaling); {_LLAMA4_NOTE}",
        "config": {**_LLAMA4, "num_local_experts": 128, "interleave_moe_layer_step": 2,
                   "max_position_embeddings": 1048576, "rope_scaling": None},
        "reference": {"total": "400B", "active": "17B", "url": "https://github.com/meta-llama/llama-models/blob/main/"
                      "models/llama4/MODEL_CARD.md", "note": "the published total includes the vision encoder"},
    },
    "mixtral-8x7b": {
        "hf_repo": "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "source": "config.json of mistralai/Mixtral-8x7B-v0.1 / -Instruct-v0.1 (https://huggingface.co/mistralai/"
                  f"Mixtral-8x7B-Instruct-v0.1/blob/main/config.json, {_COPY}); convert_hf_to_gguf.py writes it "
                  "as arch llama with merged experts",
        "config": {"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336,
                   "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                   "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32000,
                   "max_position_embeddings": 32768, "tie_word_embeddings": False},
        "reference": {"total": "46.7B", "active": "12.9B", "url": "https://mistral.ai/news/mixtral-of-experts/",
                      "note": "Mistral AI's announcement, as quoted in public pages"},
    },
    "mixtral-8x22b": {
        "hf_repo": "mistralai/Mixtral-8x22B-Instruct-v0.1",
        "source": "config.json of mistralai/Mixtral-8x22B-v0.1 (https://huggingface.co/mistralai/Mixtral-8x22B-v0.1/"
                  f"blob/main/config.json, {_COPY}: 56 layers, hidden 6144, expert width 16384, 48 Q / 8 KV heads, 8 "
                  "experts top-2, 65536 positions); github.com/mistralai/mistral-inference README: the Instruct "
                  "model has the extended 32768-token vocabulary; 141B / 39B active and 64K context in Mistral's "
                  "announcement (https://mistral.ai/news/mixtral-8x22b/, as quoted in public pages)",
        "config": {"model_type": "mixtral", "hidden_size": 6144, "intermediate_size": 16384,
                   "num_hidden_layers": 56, "num_attention_heads": 48, "num_key_value_heads": 8,
                   "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32768,
                   "max_position_embeddings": 65536, "tie_word_embeddings": False},
        "reference": {"total": "141B", "active": "39B", "url": "https://mistral.ai/news/mixtral-8x22b/",
                      "note": "Mistral AI's announcement, as quoted in public pages"},
    },
    "glm-4.7-flash": {
        "hf_repo": "zai-org/GLM-4.7-Flash",
        "source": "config.json of zai-org/GLM-4.7-Flash (https://huggingface.co/zai-org/GLM-4.7-Flash/blob/main/"
                  f"config.json, {_COPY}: model_type glm4_moe_lite, 47 layers, hidden 2048, 20 heads, MLA q_lora 768 / "
                  "kv_lora 512, head dims 192/64/256, 64 experts top-4 + 1 shared of width 1536, dense FFN 10240 in "
                  "the first layer, vocabulary 154880, 202752 positions, one MTP layer); convert_hf_to_gguf.py writes "
                  "it as deepseek2 and keeps the MTP layer (conversion/glm.py Glm4MoeLiteModel)",
        "config": {"model_type": "glm4_moe_lite", "hidden_size": 2048, "intermediate_size": 10240,
                   "moe_intermediate_size": 1536, "num_hidden_layers": 47, "num_attention_heads": 20,
                   "num_key_value_heads": 20, "n_routed_experts": 64, "n_shared_experts": 1,
                   "num_experts_per_tok": 4, "first_k_dense_replace": 1, "q_lora_rank": 768, "kv_lora_rank": 512,
                   "qk_nope_head_dim": 192, "qk_rope_head_dim": 64, "v_head_dim": 256, "topk_method": "noaux_tc",
                   "num_nextn_predict_layers": 1, "vocab_size": 154880, "max_position_embeddings": 202752,
                   "tie_word_embeddings": False},
        "reference": {"total": "30B", "active": "3B", "url": "https://huggingface.co/zai-org/GLM-4.7-Flash",
                      "note": "llama-bench's size label 30B.A3B"},
        "gguf_params": {"total": "29.94B", "url": "https://github.com/ggml-org/llama.cpp/blob/0c1e57098/benches/dgx-spark/dgx-spark.md", "counts": "loaded",
                        "note": "that GGUF has no MTP block"},
    },
}

ALIASES: dict[str, str] = {
    "glm-4.5-355b": "glm-4.5", "glm4.5": "glm-4.5", "glm4.6": "glm-4.6", "glm-4.5-air-106b": "glm-4.5-air",
    "glm4.5-air": "glm-4.5-air", "minimax-m2-230b": "minimax-m2",
    "llama-4-scout-17b-16e": "llama-4-scout", "llama-4-scout-17b-16e-instruct": "llama-4-scout",
    "llama-4-maverick-17b-128e": "llama-4-maverick", "llama-4-maverick-17b-128e-instruct": "llama-4-maverick",
    "mixtral-8x7b-instruct": "mixtral-8x7b", "mixtral-8x22b-instruct": "mixtral-8x22b",
    "minimax-m2.7": "minimax-m2", "minimax-m2.1": "minimax-m2",
}
