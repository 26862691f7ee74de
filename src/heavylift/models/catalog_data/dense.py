"""Dense models: the ones published llama.cpp benchmarks use, and heavylift's default model."""

from __future__ import annotations

_COPY = "read as a verbatim copy in public code"
_QWEN3_REPORT = "Qwen3 Technical Report Table 1 (https://arxiv.org/abs/2505.09388, as shipped in github.com/QwenLM/Qwen3)"
_META_SKU = ("arch_args of github.com/meta-llama/llama-models models/sku_list.py (dim, layers, heads, KV heads, "
             "vocabulary 128256; FFN width from multiple_of and ffn_dim_multiplier; use_scaled_rope, which the "
             "Hugging Face config writes as llama3 rope scaling and the converter as a rope_freqs tensor) and "
             "models/llama3_1/MODEL_CARD.md (128k context)")


def _qwen3(hidden: int, ffn: int, layers: int, heads: int) -> dict:
    return {"model_type": "qwen3", "hidden_size": hidden, "intermediate_size": ffn, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
            "max_position_embeddings": 40960, "tie_word_embeddings": False}


def _qwen25(hidden: int, ffn: int, layers: int, heads: int, kv: int) -> dict:
    return {"model_type": "qwen2", "hidden_size": hidden, "intermediate_size": ffn, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": 152064,
            "max_position_embeddings": 32768, "tie_word_embeddings": False}


def _llama(hidden: int, ffn: int, layers: int, heads: int, kv: int, vocab: int, ctx: int, llama3_rope: bool) -> dict:
    cfg = {"model_type": "llama", "hidden_size": hidden, "intermediate_size": ffn, "num_hidden_layers": layers,
           "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": vocab,
           "max_position_embeddings": ctx, "tie_word_embeddings": False}
    return {**cfg, "rope_scaling": {"rope_type": "llama3"}} if llama3_rope else cfg


def _name(total: str) -> dict:
    return {"total": total, "note": "the figure of the model name (vendors round it down)"}


ENTRIES: dict[str, dict] = {
    "llama-2-7b": {
        "hf_repo": "meta-llama/Llama-2-7b-hf",
        "source": f"config.json of meta-llama/Llama-2-7b-hf (https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/"
                  f"config.json, {_COPY} and in a transformers load log); 4k context, no GQA in "
                  "github.com/meta-llama/llama-models models/llama2/MODEL_CARD.md",
        "config": _llama(4096, 11008, 32, 32, 32, 32000, 4096, False),
        "reference": {**_name("7B"), "url": "https://github.com/meta-llama/llama-models/blob/main/models/llama2/MODEL_CARD.md"},
        "gguf_params": {"total": "6.74B", "url": "https://github.com/kyuz0/amd-strix-halo-toolboxes/blob/d1a34bee0900/benchmark/results/llama-2-7b.Q4_0__vulkan_radv__fa1.log", "counts": "file"},
    },
    "llama-2-13b": {
        "hf_repo": "meta-llama/Llama-2-13b-hf",
        "source": "config.json of meta-llama/Llama-2-13b-hf (https://huggingface.co/meta-llama/Llama-2-13b-hf/blob/"
                  f"main/config.json, {_COPY}); 4k context in models/llama2/MODEL_CARD.md of "
                  "github.com/meta-llama/llama-models",
        "config": _llama(5120, 13824, 40, 40, 40, 32000, 4096, False),
        "reference": {**_name("13B"), "url": "https://github.com/meta-llama/llama-models/blob/main/models/llama2/MODEL_CARD.md"},
    },
    "llama-3.1-8b": {
        "hf_repo": "meta-llama/Llama-3.1-8B-Instruct",
        "source": f"{_META_SKU}: 4096 dim, 32 layers, 32 / 8 heads, FFN 14336",
        "config": _llama(4096, 14336, 32, 32, 8, 128256, 131072, True),
        "reference": {**_name("8B"), "url": "https://github.com/meta-llama/llama-models/blob/main/models/llama3_1/MODEL_CARD.md"},
        "gguf_params": {"total": "8.03B", "url": "https://github.com/ikawrakow/ik_llama.cpp/issues/437", "counts": "file"},
    },
    "llama-3.1-70b": {
        "hf_repo": "meta-llama/Llama-3.1-70B-Instruct",
        "source": f"{_META_SKU}: 8192 dim, 80 layers, 64 / 8 heads, FFN 28672",
        "config": _llama(8192, 28672, 80, 64, 8, 128256, 131072, True),
        "reference": {**_name("70B"), "url": "https://github.com/meta-llama/llama-models/blob/main/models/llama3_1/MODEL_CARD.md"},
    },
    "qwen3-8b": {
        "hf_repo": "Qwen/Qwen3-8B",
        "source": f"config.json of Qwen/Qwen3-8B (https://huggingface.co/Qwen/Qwen3-8B/blob/main/config.json, {_COPY}); "
                  f"layers, heads, untied embeddings in the {_QWEN3_REPORT}",
        "config": _qwen3(4096, 12288, 36, 32),
        "reference": {"total": "8.2B", "url": "https://huggingface.co/Qwen/Qwen3-8B",
                      "note": "Number of Parameters on the model card, as quoted in public pages"},
    },
    "qwen3-14b": {
        "hf_repo": "Qwen/Qwen3-14B",
        "source": f"config.json of Qwen/Qwen3-14B (https://huggingface.co/Qwen/Qwen3-14B/blob/main/config.json, {_COPY}); "
                  f"layers, heads, untied embeddings in the {_QWEN3_REPORT}",
        "config": _qwen3(5120, 17408, 40, 40),
        "reference": {"total": "14.8B", "url": "https://huggingface.co/Qwen/Qwen3-14B",
                      "note": "the model card's figure, as quoted in public pages"},
    },
    "qwen3-32b": {
        "hf_repo": "Qwen/Qwen3-32B",
        "source": f"config.json of Qwen/Qwen3-32B (https://huggingface.co/Qwen/Qwen3-32B/blob/main/config.json, {_COPY}); "
                  f"layers, heads, untied embeddings in the {_QWEN3_REPORT}",
        "config": _qwen3(5120, 25600, 64, 64),
        "reference": {**_name("32B"), "url": "https://huggingface.co/Qwen/Qwen3-32B"},
        "gguf_params": {"total": "32.76B", "url": "https://github.com/ggml-org/llama.cpp/issues/13652", "counts": "file"},
    },
    "qwen2.5-7b": {
        "hf_repo": "Qwen/Qwen2.5-7B-Instruct",
        "source": "config.json of Qwen/Qwen2.5-7B-Instruct (https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/blob/main/"
                  f"config.json, {_COPY}); q/k/v projections with biases (Qwen2 architecture)",
        "config": _qwen25(3584, 18944, 28, 28, 4),
        "reference": {**_name("7B"), "url": "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct"},
        "gguf_params": {"total": "7.62B", "url": "https://github.com/ggml-org/llama.cpp/blob/0c1e57098/benches/dgx-spark/dgx-spark.md", "counts": "file", "note": "printed for Qwen2.5-Coder-7B, the same shapes"},
    },
    "qwen2.5-14b": {
        "hf_repo": "Qwen/Qwen2.5-14B-Instruct",
        "source": "Qwen/Qwen2.5-14B-Instruct (https://huggingface.co/Qwen/Qwen2.5-14B-Instruct/blob/main/config.json): "
                  "hidden 5120, FFN 13824, 48 layers, 40 / 8 heads as in a copy of the Qwen2.5-14B config in public "
                  "code; vocabulary as the other Qwen2.5 sizes",
        "unverified": ["vocab_size", "max_position_embeddings"],
        "config": _qwen25(5120, 13824, 48, 40, 8),
        "reference": {**_name("14B"), "url": "https://huggingface.co/Qwen/Qwen2.5-14B-Instruct"},
    },
    "qwen2.5-32b": {
        "hf_repo": "Qwen/Qwen2.5-32B-Instruct",
        "source": "config.json of Qwen/Qwen2.5-32B-Instruct (https://huggingface.co/Qwen/Qwen2.5-32B-Instruct/blob/main/"
                  f"config.json, {_COPY}; the base model's https://huggingface.co/Qwen/Qwen2.5-32B/blob/main/config.json "
                  "has the same dimensions with 131072 positions)",
        "config": _qwen25(5120, 27648, 64, 40, 8),
        "reference": {**_name("32B"), "url": "https://huggingface.co/Qwen/Qwen2.5-32B-Instruct"},
    },
    "mistral-7b": {
        "hf_repo": "mistralai/Mistral-7B-Instruct-v0.3",
        "source": "mistralai/Mistral-7B-Instruct-v0.3 (https://huggingface.co/mistralai/Mistral-7B-Instruct-v0.3): "
                  "github.com/mistralai/mistral-inference lists it as the current 7B; Mistral 7B's dimensions "
                  "(4096 dim, 32 layers, 32 / 8 heads, FFN 14336); llama.cpp converts it as arch llama",
        "unverified": ["vocab_size", "max_position_embeddings", "intermediate_size"],
        "config": _llama(4096, 14336, 32, 32, 8, 32768, 32768, False) | {"model_type": "mistral"},
        "reference": {**_name("7B"), "url": "https://mistral.ai/news/announcing-mistral-7b/"},
    },
    "mistral-small-3.1-24b": {
        "hf_repo": "mistralai/Mistral-Small-3.1-24B-Instruct-2503",
        "source": "text_config of mistralai/Mistral-Small-3.1-24B-Instruct-2503 (https://huggingface.co/mistralai/"
                  "Mistral-Small-3.1-24B-Instruct-2503/blob/main/config.json, as indexed in public docs and "
                  f"{_COPY}: model_type mistral, 40 layers, hidden 5120, FFN 32768, 32 / 8 heads of 128, vocabulary "
                  "131072, 131072 positions, no tie_word_embeddings key, so untied); the Pixtral vision encoder "
                  "goes to mmproj, llama.cpp converts the text model as arch llama",
        "config": _llama(5120, 32768, 40, 32, 8, 131072, 131072, False) | {"model_type": "mistral", "head_dim": 128},
        "reference": {**_name("24B"), "url": "https://huggingface.co/mistralai/Mistral-Small-3.1-24B-Instruct-2503",
                      "note": "the figure of the model name and model card, vision encoder included"},
        "gguf_params": {"total": "23.57B", "url": "https://github.com/lhl/strix-halo-testing/blob/5ee14b5b0ecf/llm-bench/Mistral-Small-3.1-24B-Instruct-2503-UD-Q4_K_XL/README.md", "counts": "file"},
    },
    "devstral-2-123b": {
        "hf_repo": "mistralai/Devstral-2-123B-Instruct-2512",
        "source": "mistralai/Devstral-2-123B-Instruct-2512 (https://huggingface.co/mistralai/Devstral-2-123B-Instruct-"
                  "2512): its config.json was not read; an MLX Swift test in public code mirroring the config.json of "
                  "mlx-community/Devstral-2-123B-Instruct-2512-4bit gives model_type ministral3 (Ministral3ForCausalLM: "
                  "a Mistral decoder with YaRN rope and attention scaling, no extra tensors) and untied embeddings; "
                  "the model card (copied in github.com/xormal/vllm DEVTRAL_README.md) gives a dense 123B with a 256k "
                  "context (262,144 tokens at https://sg.langmart.ai/model-docs/models/mistralai_devstral-2-2512-"
                  "free.html), and loads it with transformers' MistralForCausalLM. Dimensions as Mistral Large 2's "
                  "params.json (https://huggingface.co/bullerwins/Mistral-Large-Instruct-2407-exl2_"
                  "5.0bpw/blame/main/params.json: 88 layers, dim 12288, FFN 28672, 96 / 8 heads of 128) with the "
                  "131072-entry Tekken vocabulary: the tensor table then gives exactly llama.cpp's 125.03 B for the "
                  "real GGUF, which llama-bench prints as arch llama",
        "unverified": ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                       "num_key_value_heads", "vocab_size"],
        "config": _llama(12288, 28672, 88, 96, 8, 131072, 262144, False) | {"model_type": "mistral", "head_dim": 128},
        "reference": {"total": "123B", "url": "https://huggingface.co/mistralai/Devstral-2-123B-Instruct-2512",
                      "note": "the model card's Size (B Parameters), as copied in public code"},
        "gguf_params": {"total": "125.03B", "url": "https://github.com/kyuz0/amd-r9700-ai-toolboxes/blob/8ad62bcda86d/benchmark/results/Devstral-2-123B-Instruct-2512-Q3_K_S-00001-of-00002__rocm-7.9__fa1__dual.log", "counts": "file"},
    },
    "gemma-3-27b": {
        "hf_repo": "google/gemma-3-27b-it",
        "source": "github.com/google-deepmind/gemma gemma/gm/nn/_gemma.py Gemma3_27B (62 layers, embed 5376, hidden "
                  "5376*8/2 = 21504, 32 Q / 16 KV heads of 128, 262144-entry embedding, 1024-token sliding window in "
                  "5 of 6 layers) and text_config of google/gemma-3-27b-it (https://huggingface.co/google/gemma-3-27b-"
                  f"it/blob/main/config.json, {_COPY}: 131072 positions, query_pre_attn_scalar 168); config.json says "
                  "vocab_size 262208 but conversion/gemma.py trims token_embd to the tokenizer's 262144",
        "config": {"model_type": "gemma3_text", "hidden_size": 5376, "intermediate_size": 21504,
                   "num_hidden_layers": 62, "num_attention_heads": 32, "num_key_value_heads": 16, "head_dim": 128,
                   "sliding_window": 1024, "sliding_window_pattern": 6, "vocab_size": 262144,
                   "max_position_embeddings": 131072, "tie_word_embeddings": True},
        "reference": {**_name("27B"), "url": "https://huggingface.co/google/gemma-3-27b-it",
                      "note": "the figure of the model name, vision encoder included"},
        "gguf_params": {"total": "27.01B", "url": "https://github.com/kyuz0/amd-r9700-ai-toolboxes/blob/8ad62bcda86d/benchmark/results/gemma-3-27b-it-BF16-00001-of-00002__rocm-7.9__fa1__dual.log", "counts": "file"},
    },
    "smollm2-135m-instruct": {
        "hf_repo": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "source": "config.json of HuggingFaceTB/SmolLM2-135M-Instruct (https://huggingface.co/HuggingFaceTB/SmolLM2-"
                  "135M-Instruct/blob/main/config.json; heavylift's default model, whose GGUF header agrees: 30 "
                  "layers, 576 embd, 9/3 heads, 8192 ctx)",
        "config": {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
                   "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
                   "vocab_size": 49152, "max_position_embeddings": 8192, "tie_word_embeddings": True},
        "reference": {"total": "135M", "url": "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
                      "note": "the figure of the model name"},
    },
    "llama-3-8b": {
        "hf_repo": "meta-llama/Meta-Llama-3-8B-Instruct",
        "source": "arch_args of github.com/meta-llama/llama-models models/sku_list.py (llama3_8b: 4096 dim, 32 layers, "
                  "32 / 8 heads, FFN 14336 from multiple_of 1024 x 1.3, vocabulary 128256, no rope scaling) and "
                  f"config.json of meta-llama/Meta-Llama-3-8B ({_COPY}: 8192 positions)",
        "config": _llama(4096, 14336, 32, 32, 8, 128256, 8192, False),
        "reference": {**_name("8B"), "url": "https://github.com/meta-llama/llama-models/blob/main/models/llama3/MODEL_CARD.md"},
        "gguf_params": {"total": "8.03B", "url": "https://github.com/XiongjieDai/GPU-Benchmarks-on-LLM-Inference/blob/main/LLaMA%203/Gaming%20GPUs/3070_v3.ipynb", "counts": "file"},
    },
    "llama-3-70b": {
        "hf_repo": "meta-llama/Meta-Llama-3-70B-Instruct",
        "source": "arch_args of github.com/meta-llama/llama-models models/sku_list.py (llama3_70b: 8192 dim, 80 layers, "
                  "64 / 8 heads, FFN 28672, vocabulary 128256, no rope scaling) and config.json of "
                  f"meta-llama/Meta-Llama-3-70B ({_COPY}: 8192 positions)",
        "config": _llama(8192, 28672, 80, 64, 8, 128256, 8192, False),
        "reference": {**_name("70B"), "url": "https://github.com/meta-llama/llama-models/blob/main/models/llama3/MODEL_CARD.md"},
        "gguf_params": {"total": "70.55B", "url": "https://github.com/XiongjieDai/GPU-Benchmarks-on-LLM-Inference/blob/main/LLaMA%203/Gaming%20GPUs/3090_2_v3.ipynb", "counts": "file"},
    },
    "llama-3.2-3b": {
        "hf_repo": "meta-llama/Llama-3.2-3B-Instruct",
        "source": "arch_args of github.com/meta-llama/llama-models models/sku_list.py (llama3_2_3b: 3072 dim, 28 layers, "
                  "24 / 8 heads, FFN 8192 from multiple_of 256 x 1.0, vocabulary 128256, scaled rope); 128k context "
                  "in models/llama3_2/MODEL_CARD.md; tied embeddings make llama-bench's 3.21 B (untied would be 3.61 B)",
        "config": {**_llama(3072, 8192, 28, 24, 8, 128256, 131072, True), "tie_word_embeddings": True},
        "reference": {**_name("3B"), "url": "https://github.com/meta-llama/llama-models/blob/main/models/llama3_2/MODEL_CARD.md"},
        "gguf_params": {"total": "3.21B", "url": "https://github.com/geerlingguy/ai-benchmarks/issues/53", "counts": "file"},
    },
    "gemma-3-4b": {
        "hf_repo": "google/gemma-3-4b-it",
        "source": "github.com/google-deepmind/gemma gemma/gm/nn/_gemma.py Gemma3_4B (34 layers, embed 2560, hidden "
                  "2560*8/2 = 10240, 8 Q / 4 KV heads of 256, 262144-entry embedding, 1024-token sliding window in 5 "
                  "of 6 layers, tied output); the 128K context of the Gemma 3 model card",
        "unverified": ["max_position_embeddings"],
        "config": {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240,
                   "num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                   "sliding_window": 1024, "sliding_window_pattern": 6, "vocab_size": 262144,
                   "max_position_embeddings": 131072, "tie_word_embeddings": True},
        "reference": {**_name("4B"), "url": "https://huggingface.co/google/gemma-3-4b-it",
                      "note": "the figure of the model name, vision encoder included"},
        "gguf_params": {"total": "3.88B", "url": "https://github.com/ggml-org/llama.cpp/blob/0c1e57098/benches/dgx-spark/dgx-spark.md", "counts": "file"},
    },
    "tinyllama-1.1b": {
        "hf_repo": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        "source": "config.json of TinyLlama/TinyLlama-1.1B-Chat-v1.0 (https://huggingface.co/TinyLlama/TinyLlama-1.1B-Chat-"
                  f"v1.0/blob/main/config.json, {_COPY}: 22 layers, hidden 2048, 4 KV heads, vocabulary 32000, 2048 "
                  "positions); the FFN width 5632 and 32 heads, not in that copy, give exactly llama-bench's 1.10 B",
        "config": _llama(2048, 5632, 22, 32, 4, 32000, 2048, False),
        "reference": {"total": "1.1B", "url": "https://huggingface.co/TinyLlama/TinyLlama-1.1B-Chat-v1.0",
                      "note": "the figure of the model name"},
        "gguf_params": {"total": "1.10B", "url": "https://github.com/geerlingguy/ai-benchmarks/issues/51", "counts": "file"},
    },
}

ALIASES: dict[str, str] = {
    "llama2-7b": "llama-2-7b", "llama-2-7b-hf": "llama-2-7b", "llama-2-7b-chat": "llama-2-7b", "llama-7b": "llama-2-7b",
    "llama2-13b": "llama-2-13b", "llama-2-13b-chat": "llama-2-13b",
    "llama-3.1-8b-instruct": "llama-3.1-8b", "llama3.1-8b": "llama-3.1-8b",
    "llama-3.1-70b-instruct": "llama-3.1-70b", "llama3.1-70b": "llama-3.1-70b",
    "qwen2.5-7b-instruct": "qwen2.5-7b", "qwen2.5-14b-instruct": "qwen2.5-14b", "qwen2.5-32b-instruct": "qwen2.5-32b",
    "mistral-7b-instruct": "mistral-7b", "mistral-7b-instruct-v0.3": "mistral-7b",
    "gemma-3-27b-it": "gemma-3-27b", "gemma3-27b": "gemma-3-27b", "smollm2-135m": "smollm2-135m-instruct",
    "llama-3-8b-instruct": "llama-3-8b", "meta-llama-3-8b": "llama-3-8b", "llama3-8b": "llama-3-8b",
    "llama-3-70b-instruct": "llama-3-70b", "meta-llama-3-70b": "llama-3-70b", "llama3-70b": "llama-3-70b",
    "llama-3.2-3b-instruct": "llama-3.2-3b", "gemma-3-4b-it": "gemma-3-4b", "tinyllama-1.1b-chat": "tinyllama-1.1b",
    "qwen2.5-coder-7b": "qwen2.5-7b", "qwen2.5-coder-7b-instruct": "qwen2.5-7b",
    "mistral-small-3.1-24b-instruct-2503": "mistral-small-3.1-24b", "mistral-small-3.1": "mistral-small-3.1-24b",
    "devstral-2-123b-instruct-2512": "devstral-2-123b", "devstral-2": "devstral-2-123b",
}
