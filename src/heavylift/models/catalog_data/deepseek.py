"""DeepSeek-V3 family (V3, V3.1, R1, V3.2) and Kimi K2, which reuses the DeepSeek-V3 architecture."""

from __future__ import annotations

_V3_REPO = "github.com/deepseek-ai/DeepSeek-V3"
_COPY = "read as a verbatim copy in public code"

_V3 = {"model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
       "num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 128, "n_routed_experts": 256,
       "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3, "q_lora_rank": 1536,
       "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
       "topk_method": "noaux_tc", "num_nextn_predict_layers": 1, "vocab_size": 129280,
       "max_position_embeddings": 163840, "tie_word_embeddings": False}
_V3_NOTE = ("MLA; 3 dense lead layers; convert_hf_to_gguf.py leaves out the MTP layer (conversion/deepseek.py "
            "DeepseekV2Model.skip_mtp), so the GGUF holds the 671B main model")

ENTRIES: dict[str, dict] = {
    "deepseek-v3": {
        "hf_repo": "deepseek-ai/DeepSeek-V3",
        "source": f"config.json of deepseek-ai/DeepSeek-V3 (https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/"
                  f"config.json, {_COPY}); every dimension also in the official {_V3_REPO} "
                  f"inference/configs/config_671B.json; 671B total / 37B active and 128K context in its README; {_V3_NOTE}",
        "config": _V3,
        "reference": {"total": "671B", "active": "37B", "url": "https://github.com/deepseek-ai/DeepSeek-V3",
                      "note": "main model; the Hugging Face total of 685B adds the 14B MTP module (README_WEIGHTS.md)"},
    },
    "deepseek-v3.1": {
        "hf_repo": "deepseek-ai/DeepSeek-V3.1",
        "source": f"official {_V3_REPO} inference/configs/config_v3.1.json (same dimensions as V3: 61 layers, 7168, "
                  f"256 experts top-8 + 1 shared, MLA 1536/512/128/64/128, vocabulary 129280); {_V3_NOTE}",
        "unverified": ["max_position_embeddings", "topk_method"],
        "config": _V3,
        "reference": {"total": "671B", "active": "37B", "url": "https://github.com/deepseek-ai/DeepSeek-V3",
                      "note": "V3's published figures; V3.1 keeps its dimensions (config_v3.1.json)"},
    },
    "deepseek-r1": {
        "hf_repo": "deepseek-ai/DeepSeek-R1",
        "source": f"config.json of deepseek-ai/DeepSeek-R1 (https://huggingface.co/deepseek-ai/DeepSeek-R1/blob/main/"
                  f"config.json, {_COPY}): DeepSeek-V3's; github.com/deepseek-ai/DeepSeek-R1 README: trained from "
                  f"DeepSeek-V3-Base, 671B / 37B, 128K context; {_V3_NOTE}",
        "config": _V3,
        "reference": {"total": "671B", "active": "37B", "url": "https://github.com/deepseek-ai/DeepSeek-R1"},
    },
    "deepseek-v3.2": {
        "hf_repo": "deepseek-ai/DeepSeek-V3.2",
        "source": "official github.com/deepseek-ai/DeepSeek-V3.2-Exp inference/config_671B_v3.2.json (V3 dimensions "
                  "plus the DeepSeek Sparse Attention indexer: index_n_heads 64, index_head_dim 128, index_topk 2048) "
                  "and the same fields of https://huggingface.co/deepseek-ai/DeepSeek-V3.2/raw/main/config.json as "
                  "quoted in public code (61 layers, 1 nextn layer, 163840 positions). llama.cpp runs it as "
                  "architecture deepseek32 (src/models/deepseek32.cpp) with the sparse attention: a DSA KV cache "
                  "holds the MLA latent plus the indexer key (llama-kv-cache-dsa.cpp); the converter keeps the "
                  "MTP layer (DeepseekV32Model.skip_mtp = False)",
        "config": {**_V3, "model_type": "deepseek_v32", "index_n_heads": 64, "index_head_dim": 128,
                   "index_topk": 2048},
        "reference": {"total": "685B", "active": "37B", "url": "https://github.com/deepseek-ai/DeepSeek-V3",
                      "counts": "file",
                      "note": "V3's 671B main model + 14B MTP module (README_WEIGHTS.md); the V3.2 indexer adds ~0.9B"},
        "gguf_params": {"total": "685.36B", "url": "https://github.com/ggml-org/llama.cpp/pull/23346", "counts": "file"},
    },
    "kimi-k2": {
        "hf_repo": "moonshotai/Kimi-K2-Instruct",
        "source": "github.com/MoonshotAI/Kimi-K2 README model summary (1T total / 32B active, 61 layers incl. 1 dense, "
                  "hidden 7168, expert width 2048, 64 heads, 384 experts top-8 + 1 shared, 160K vocabulary, 128K "
                  "context, MLA) and copies of its config.json in public code (model_type kimi_k2 with "
                  "DeepseekV3ForCausalLM: q_lora 1536, kv_lora 512, head dims 128/64/128, vocab_size 163840, "
                  "max_position_embeddings 131072, dense intermediate 18432); llama.cpp runs it as deepseek2",
        "config": {"model_type": "kimi_k2", "hidden_size": 7168, "intermediate_size": 18432,
                   "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 64,
                   "num_key_value_heads": 64, "n_routed_experts": 384, "n_shared_experts": 1,
                   "num_experts_per_tok": 8, "first_k_dense_replace": 1, "q_lora_rank": 1536, "kv_lora_rank": 512,
                   "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "topk_method": "noaux_tc",
                   "vocab_size": 163840, "max_position_embeddings": 131072, "tie_word_embeddings": False},
        "reference": {"total": "1.04T", "active": "32B", "url": "https://arxiv.org/abs/2507.20534",
                      "note": "Kimi K2 technical report, as quoted in public pages (the README rounds it to 1T)"},
    },
    "deepseek-v2-lite": {
        "hf_repo": "deepseek-ai/DeepSeek-V2-Lite-Chat",
        "source": f"official {_V3_REPO} inference/configs/config_16B.json (DeepSeek-V2-Lite: 27 layers, hidden 2048, "
                  "dense FFN 10944 in the first layer, 64 experts top-6 + 2 shared of width 1408, 16 heads, MLA with "
                  "no q_lora and kv_lora 512, head dims 128/64/128, vocabulary 102400); llama.cpp runs it as "
                  "deepseek2 (its 'lite' variant, deepseek2.cpp)",
        "unverified": ["max_position_embeddings"],
        "config": {"model_type": "deepseek_v2", "hidden_size": 2048, "intermediate_size": 10944,
                   "moe_intermediate_size": 1408, "num_hidden_layers": 27, "num_attention_heads": 16,
                   "num_key_value_heads": 16, "n_routed_experts": 64, "n_shared_experts": 2,
                   "num_experts_per_tok": 6, "first_k_dense_replace": 1, "q_lora_rank": None, "kv_lora_rank": 512,
                   "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 102400,
                   "max_position_embeddings": 163840, "tie_word_embeddings": False},
        "reference": {"total": "16B", "url": "https://github.com/deepseek-ai/DeepSeek-V3/blob/main/inference/configs/config_16B.json",
                      "note": "the size DeepSeek's inference config is named by"},
    },
}

ALIASES: dict[str, str] = {
    "deepseek-v3-0324": "deepseek-v3", "deepseek-v3.1-terminus": "deepseek-v3.1", "deepseek-r1-0528": "deepseek-r1",
    "deepseek-v3.2-exp": "deepseek-v3.2", "kimi-k2-instruct": "kimi-k2", "kimi-k2-1t": "kimi-k2",
    "deepseek-v2-lite-chat": "deepseek-v2-lite",
}
