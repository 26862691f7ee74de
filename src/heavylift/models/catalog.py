"""The built-in model catalog: names -> ModelArch (data in catalog_data/)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from heavylift.errors import ModelError
from heavylift.models.catalog_data import ALIASES, CATALOG
from heavylift.models.model_arch import ModelArch

_UNITS = {"M": 1e-3, "B": 1.0, "T": 1e3}


def published_billions(text: str) -> tuple[float, float]:
    """("235B" | "5.1B" | "1.04T" | "135M") -> (value, unit of its last digit), both in billions."""
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?([MBT])", text.strip())
    if not m:
        raise ValueError(f"not a published parameter count: {text!r}")
    scale = _UNITS[m.group(3)]
    decimals = len(m.group(2) or "")
    return float(m.group(1) + "." + (m.group(2) or "0")) * scale, scale / 10**decimals


@dataclass(frozen=True)
class Reference:
    """A published parameter count, as printed ("235B"), with where it was read."""

    total: str
    url: str
    active: str = ""
    counts: str = "loaded"  # "loaded": the model llama-server loads; "file": MTP blocks included
    note: str = ""

    def check(self, total_params: float, tolerance: float = 0.02) -> tuple[bool, float]:
        """Whether a computed total agrees: within `tolerance`, or within one unit of the published
        figure's last digit (a model named "32B" may hold 32.8B). Returns (agrees, relative error)."""
        value, unit = published_billions(self.total)
        got = total_params / 1e9
        off = (got - value) / value
        return abs(off) <= tolerance or abs(got - value) <= unit, off


@dataclass(frozen=True)
class CatalogEntry:
    key: str
    hf_repo: str
    config: dict
    source: str  # what was read, ending with "unverified: <keys>" when some value was not
    unverified: tuple[str, ...]
    reference: Reference | None  # the maker's published total
    gguf_params: Reference | None = None  # llama.cpp's own count of a real GGUF (llama-bench "params")
    unsupported: str = ""

    @property
    def is_verified(self) -> bool:
        return not self.unverified


def names() -> list[str]:
    return list(CATALOG)


def canonical(name: str) -> str | None:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    return key if key in CATALOG else None


def entry(name: str) -> CatalogEntry:
    """The catalog entry; an unknown name raises with the closest names."""
    key = canonical(name)
    if key is None:
        close = difflib.get_close_matches(name.lower(), list(CATALOG) + list(ALIASES), n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ModelError(f"unknown model {name!r}: {hint}give a catalog name (heavylift plan --list), "
                         "a .gguf path, or a config.json / model folder")
    data = CATALOG[key]
    unverified = tuple(data.get("unverified", ()))
    ref = Reference(**data["reference"]) if data.get("reference") else None
    measured = Reference(**data["gguf_params"]) if data.get("gguf_params") else None
    checks = []
    if ref:
        checks.append(f"parameter count checked against the published {ref.total}"
                      + (f" / {ref.active} active" if ref.active else "") + f" ({ref.url})")
    if measured:
        checks.append(f"and against llama.cpp's count of a real GGUF, {measured.total} ({measured.url})")
    source = "; ".join([data["source"], " ".join(checks)] if checks else [data["source"]])
    source += f"; unverified: {', '.join(unverified)}" if unverified else ""
    return CatalogEntry(key, data["hf_repo"], data["config"], source, unverified, ref, measured,
                        data.get("unsupported", ""))


def lookup(name: str) -> ModelArch:
    """The catalog entry's architecture; an unknown name raises with the closest names, a model
    llama.cpp cannot run raises saying so."""
    e = entry(name)
    if e.unsupported:
        raise ModelError(f"{e.key}: {e.unsupported}")
    return ModelArch.from_hf_config(e.config, name=e.key, source=e.source)
