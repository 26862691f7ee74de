"""Build a LlamaServer for a stored model with the engine `heavylift setup` recorded."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from heavylift import paths
from heavylift.engines.llama_args import LlamaArgs
from heavylift.engines.llama_server import LlamaServer, LlamaServerConfig, free_port
from heavylift.models.model_store import ModelStore
from heavylift.setup.engine_build import current_engine


def local_engine(model: str, *, ctx_size: int = 4096, num_parallel: int = 1, host: str = "127.0.0.1",
                 port: int | None = None, api_key: str | None = None, extra_args: list[str] | None = None,
                 slot_save_path: Path | None = None, num_threads: int | None = None,
                 store: ModelStore | None = None, settings: LlamaArgs | None = None) -> LlamaServer:
    """`settings`: a template with more engine settings (a plan's placement, batches, KV type,
    `LlamaArgs.from_plan`); the model, context, slots and server options given here replace its own."""
    stored = (store or ModelStore()).resolve(model)
    build = current_engine()
    log_path = paths.logs_dir() / f"llama-server-{stored.name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    settings = replace(
        settings or LlamaArgs(str(stored.path)), model_path=str(stored.path), host=host,
        port=port or free_port(host if host != "0.0.0.0" else "127.0.0.1"), ctx_size=ctx_size,
        num_parallel=num_parallel, is_metrics=True, is_jinja=True, is_fit_off="--fit" in build.features,
        alias=stored.name, num_threads=num_threads, slot_save_path=slot_save_path, api_key=api_key,
        extra_args=list(extra_args or []))
    return LlamaServer(LlamaServerConfig(binary=build.binary("llama-server"), settings=settings, log_path=log_path))
