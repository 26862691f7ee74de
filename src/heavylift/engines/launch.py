"""Build a LlamaServer for a stored model with the engine `heavylift setup` recorded."""

from __future__ import annotations

import time
from pathlib import Path

from heavylift import paths
from heavylift.engines.llama_server import LlamaServer, LlamaServerConfig, free_port
from heavylift.models.model_store import ModelStore
from heavylift.setup.engine_build import current_engine


def local_engine(model: str, *, ctx_size: int = 4096, num_parallel: int = 1, host: str = "127.0.0.1",
                 port: int | None = None, api_key: str | None = None, extra_args: list[str] | None = None,
                 slot_save_path: Path | None = None, num_threads: int | None = None,
                 store: ModelStore | None = None) -> LlamaServer:
    stored = (store or ModelStore()).resolve(model)
    build = current_engine()
    log_path = paths.logs_dir() / f"llama-server-{stored.name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    config = LlamaServerConfig(
        binary=build.binary("llama-server"), model_path=stored.path, host=host,
        port=port or free_port(host if host != "0.0.0.0" else "127.0.0.1"),
        ctx_size=ctx_size, num_parallel=num_parallel, api_key=api_key, num_threads=num_threads,
        slot_save_path=slot_save_path, log_path=log_path, extra_args=list(extra_args or []),
        alias=stored.name, is_fit_off="--fit" in build.features,
    )
    return LlamaServer(config)
