"""API list prices: the dated table shipped in prices.json (each price with its source), or the
user's own `--api input=X,output=Y[,cached=Z][,write=W]` (USD per million tokens)."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

from heavylift.errors import UsageError


@dataclass(frozen=True)
class ApiPrice:
    name: str
    model: str
    provider: str
    input: float  # USD per million input tokens
    output: float
    cached_input: float | None = None  # cache reads; None: not offered / not read
    cache_write: float | None = None  # cache writes; None: billed as input
    batch_discount: float | None = None  # the provider's batch discount (0.5 = 50% off); None: no batch tier read
    context_tokens: int | None = None
    long_threshold_tokens: int | None = None  # requests with more input tokens bill the long rates
    long_input: float | None = None
    long_cached_input: float | None = None
    long_output: float | None = None
    source: str = ""
    source_kind: str = ""
    notes: str = ""
    read_on: str = ""

    def rates(self, prompt_tokens: float) -> tuple[float | None, float | None, float | None, float | None]:
        """(input, cached, write, output) for one request of `prompt_tokens` (long-context tier above
        its threshold: every token of such a request bills the long rate, as the providers state)."""
        if self.long_threshold_tokens and prompt_tokens > self.long_threshold_tokens:
            # the write premium over input is the same multiple in both tiers where a provider lists one
            write = (self.cache_write / self.input * self.long_input
                     if self.cache_write and self.long_input else None)
            return self.long_input, self.long_cached_input, write, self.long_output
        return self.input, self.cached_input, self.cache_write, self.output


@lru_cache(maxsize=1)
def table() -> dict:
    return json.loads(resources.files("heavylift.cost").joinpath("prices.json").read_text())


def names() -> list[str]:
    return list(table()["apis"])


def default_names() -> list[str]:
    return list(table()["default_apis"])


def lookup(name: str) -> ApiPrice:
    apis = table()["apis"]
    key = name.strip().lower()
    if key not in apis:
        close = difflib.get_close_matches(key, list(apis), n=3, cutoff=0.4)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UsageError(f"unknown API {name!r}{hint}; known: {', '.join(apis)}; or give prices: "
                         "--api input=X,output=Y[,cached=Z][,write=W] (USD per million tokens)")
    e = apis[key]
    long = e.get("long_context") or {}
    return ApiPrice(name=key, model=e["model"], provider=e["provider"], input=e["input"], output=e["output"],
                    cached_input=e.get("cached_input"), cache_write=e.get("cache_write"),
                    batch_discount=e.get("batch_discount"), context_tokens=e.get("context_tokens"),
                    long_threshold_tokens=long.get("threshold_tokens"), long_input=long.get("input"),
                    long_cached_input=long.get("cached_input"), long_output=long.get("output"),
                    source=e["source"], source_kind=e["source_kind"], notes=e.get("notes", ""),
                    read_on=table()["read_on"])


_KEYS = {"input": "input", "output": "output", "cached": "cached_input", "write": "cache_write",
         "context": "context_tokens", "batch": "batch_discount"}


def parse_api(spec: str) -> ApiPrice:
    """A table name, or `input=X,output=Y[,cached=Z][,write=W][,context=N][,batch=F]` (USD per
    million tokens; a name first, `gpt-5.5,output=25`, overrides that entry's prices)."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise UsageError("--api is empty; give an API name or input=X,output=Y (USD per million tokens)")
    base: ApiPrice | None = None
    if "=" not in parts[0]:
        base = lookup(parts[0])
        parts = parts[1:]
    values: dict[str, float | int] = {}
    for p in parts:
        key, _, raw = p.partition("=")
        key = key.strip().lower()
        if key not in _KEYS or not raw:
            raise UsageError(f"--api part {p!r} not understood; use input=X,output=Y[,cached=Z][,write=W] "
                             "(USD per million tokens)")
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(f"--api {key}={raw!r} is not a number (USD per million tokens)") from None
        if value <= 0 or (key == "batch" and value >= 1):
            raise UsageError(f"--api {key}={raw}: must be greater than zero" + (" and below 1" if key == "batch" else ""))
        values[_KEYS[key]] = int(value) if key == "context" else value
    if base is not None:
        return replace(base, **values, name=base.name + ("*" if values else ""),  # type: ignore[arg-type]
                       notes=base.notes + (" Overridden on the command line: " + ", ".join(values) if values else ""))
    if "input" not in values or "output" not in values:
        raise UsageError("--api with prices needs at least input=X,output=Y (USD per million tokens)")
    return ApiPrice(name="custom", model="your prices", provider="--api", source="the command line",
                    source_kind="given", **values)  # type: ignore[arg-type]
