"""Built-in catalog: the config.json values of each model that the planner reads.

Each entry is an excerpt of the Hugging Face config.json of the named repository (only the keys
heavylift reads), fed to `ModelArch.from_hf_config`. Keys per entry:
  hf_repo     the repository the entry describes
  config      the excerpt
  source      what was read, with addresses: config.json, model card, the maker's code or report
  unverified  config keys not read in any source (the value is the best available; say so)
  reference   a published total (and active) parameter count in billions with its URL, checked
              against the tensor table in tests/plan/test_catalog.py; "counts": "file" when the
              published figure includes the MTP block the GGUF keeps
  gguf_params llama.cpp's own parameter count of a real GGUF of the model, as llama-bench printed
              it in a public measurement ("params" = every tensor in the file), with its URL;
              checked to the printed 0.01B ("counts": "loaded" when that file has no MTP block)
  unsupported a one-line reason when llama.cpp at the pinned version cannot run the model
Split by family; keys are lower-case, aliases map other spellings to them.
"""

from __future__ import annotations

from heavylift.models.catalog_data import deepseek, dense, moe, qwen

CATALOG: dict[str, dict] = {**qwen.ENTRIES, **deepseek.ENTRIES, **moe.ENTRIES, **dense.ENTRIES}
ALIASES: dict[str, str] = {**qwen.ALIASES, **deepseek.ALIASES, **moe.ALIASES, **dense.ALIASES}
