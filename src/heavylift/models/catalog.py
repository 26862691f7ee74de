"""The built-in model catalog: names -> ModelArch (data in catalog_data.py)."""

from __future__ import annotations

import difflib

from heavylift.errors import ModelError
from heavylift.models.catalog_data import ALIASES, CATALOG
from heavylift.models.model_arch import ModelArch


def names() -> list[str]:
    return list(CATALOG)


def canonical(name: str) -> str | None:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    return key if key in CATALOG else None


def lookup(name: str) -> ModelArch:
    """The catalog entry's architecture; an unknown name raises with the closest names."""
    key = canonical(name)
    if key is None:
        close = difflib.get_close_matches(name.lower(), list(CATALOG) + list(ALIASES), n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ModelError(f"unknown model {name!r}: {hint}give a catalog name (heavylift plan --list), "
                         "a .gguf path, or a config.json / model folder")
    entry = CATALOG[key]
    return ModelArch.from_hf_config(entry["config"], name=key, source=entry["source"])
