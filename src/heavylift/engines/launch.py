"""Build the engine to serve a model: llama-server (the engine `heavylift setup` recorded) or vLLM."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from heavylift import paths
from heavylift.engines.llama_args import LlamaArgs
from heavylift.engines.llama_server import LlamaServer, LlamaServerConfig, free_port
from heavylift.errors import UsageError
from heavylift.models.model_store import ModelStore
from heavylift.settings import get as settings_get
from heavylift.setup.engine_build import current_engine

if TYPE_CHECKING:
    from heavylift.engines.vllm_server import VllmServer


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


def vllm_engine(model: str, *, ctx_size: int = 4096, num_parallel: int = 1, host: str = "127.0.0.1",
                port: int | None = None, api_key: str | None = None, extra_args: list[str] | None = None,
                say=lambda _m: None, store: ModelStore | None = None) -> VllmServer:
    """vLLM's OpenAI server for a Hugging Face folder (or a stored GGUF's export), installing the
    CPU build on first use. Checked before launch: the architecture, and that it fits."""
    from heavylift.engines import vllm_model as vm
    from heavylift.engines.vllm_args import VllmArgs
    from heavylift.engines.vllm_install import ensure_vllm
    from heavylift.engines.vllm_server import VllmServer, VllmServerConfig

    hf = vm.resolve_hf(model, store)
    install = ensure_vllm(say)
    vm.check_supported(hf, vm.supported_architectures(install.python, install.version))
    # heavylift's --ctx is the total over all sequences (llama.cpp's -c); vLLM's is per sequence
    per_seq = ctx_size // num_parallel
    if hf.max_position_embeddings and per_seq > hf.max_position_embeddings:
        raise UsageError(f"--ctx {ctx_size} over {num_parallel} sequence(s) is {per_seq} tokens each, more than "
                         f"{hf.name}'s {hf.max_position_embeddings}; lower --ctx")
    settings = VllmArgs(str(hf.folder), served_model_name=hf.name, host=host,
                        port=port or free_port(host if host != "0.0.0.0" else "127.0.0.1"), max_model_len=per_seq,
                        max_num_seqs=num_parallel, seed=0, extra_args=list(extra_args or []))
    env: dict[str, str] = {}
    if install.kind == "cpu-venv":
        # The CPU build sizes its KV cache from VLLM_CPU_KVCACHE_SPACE (GiB) and wants a
        # utilization below 1 (the measurements on these machines: 0.5 and 1 GiB work).
        settings.gpu_memory_utilization = 0.5
        space = settings_get("VLLM_CPU_KVCACHE_SPACE") or vm.cpu_kv_space_gib(hf, per_seq, num_parallel)
        env["VLLM_CPU_KVCACHE_SPACE"] = str(space)
        available = vm.available_ram_bytes()
        if available:
            vm.check_fits_cpu(hf, space, available)
    else:
        # a GPU build (HEAVYLIFT_VLLM_PYTHON): tensor parallel over this machine's GPUs, as the planner
        # prints it (plan/planner.py vllm_args), every weight on them
        from heavylift.hardware.spec import detect_local
        from heavylift.plan.model_source import resolve

        gpus = detect_local().gpus
        if gpus:
            n_head = resolve(str(hf.folder), None).arch.n_head
            n = len(gpus)
            settings.tensor_parallel_size = n if n_head % n == 0 and n & (n - 1) == 0 else 1
            settings.gpu_memory_utilization = 0.90
            vm.check_fits_gpus(hf, [g.memory_bytes for g in gpus[:settings.tensor_parallel_size]], 0.90)
    log_path = paths.logs_dir() / f"vllm-{hf.name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    return VllmServer(VllmServerConfig(install.python, settings, api_key, log_path, env))
