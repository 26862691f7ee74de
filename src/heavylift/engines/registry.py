"""A tiny registry so new engines (vLLM, rpc) plug in without if-chains."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from heavylift.errors import UsageError

if TYPE_CHECKING:
    from heavylift.engines.base import Engine

_ENGINES: dict[str, type[Engine]] = {}


def register_engine(name: str) -> Callable[[type[Engine]], type[Engine]]:
    def wrap(cls: type[Engine]) -> type[Engine]:
        _ENGINES[name] = cls
        return cls

    return wrap


def engine_names() -> list[str]:
    _load_builtin()
    return sorted(_ENGINES)


def create_engine(name: str, **kwargs: Any) -> Engine:
    _load_builtin()
    if name not in _ENGINES:
        raise UsageError(f"unknown engine {name!r}; choose one of: {', '.join(sorted(_ENGINES))}")
    return _ENGINES[name](**kwargs)


def _load_builtin() -> None:
    # Imported for their @register_engine side effect.
    from heavylift.engines import llama_server, remote, vllm_server  # noqa: F401
