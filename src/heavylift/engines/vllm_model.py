"""What vLLM is given: a Hugging Face folder (a GGUF's `models export-hf` copy), checked before
anything is launched: the architecture is one vLLM implements, and the weights plus the KV cache
fit the memory vLLM may use."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

from heavylift import paths
from heavylift.errors import ModelError, SetupError, UsageError
from heavylift.models.model_store import ModelStore

GiB = 1024**3


@dataclass
class HfModel:
    folder: Path
    name: str  # the name clients send as "model" (served-model-name)
    architectures: list[str]
    weights_bytes: int  # safetensors on disk
    max_position_embeddings: int | None


def export_folder(name: str) -> Path:
    """Where `heavylift models export-hf NAME` writes by default."""
    return paths.models_dir() / "hf" / name


def resolve_hf(model: str, store: ModelStore | None = None) -> HfModel:
    """A folder with config.json as given, or the export of a stored GGUF (refused if there is none)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return _read(path, path.name)
    stored = (store or ModelStore()).resolve(model)
    folder = export_folder(stored.name)
    marker = folder / "heavylift-export.json"
    if not marker.exists():
        raise UsageError(f"{stored.name} is a GGUF; vLLM serves Hugging Face folders: run `heavylift models "
                         f"export-hf {model}` first (writes {folder}), or give a model folder")
    source = json.loads(marker.read_text())
    if source.get("source") != str(stored.path) or source.get("source_bytes") != stored.path.stat().st_size:
        raise UsageError(f"the export in {folder} was made from another file than {stored.path}; run "
                         f"`heavylift models export-hf {model} --force`")
    return _read(folder, stored.name)


def _read(folder: Path, name: str) -> HfModel:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelError(f"{folder} has no config.json; give a Hugging Face model folder")
    try:
        config = json.loads(config_path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"{config_path}: not valid JSON ({e}); fix or re-export it") from None
    shards = list(folder.glob("*.safetensors"))
    if not shards:
        raise ModelError(f"{folder} has no .safetensors weights; vLLM needs them (re-export or re-download)")
    return HfModel(folder, name, list(config.get("architectures") or []), sum(p.stat().st_size for p in shards),
                   config.get("max_position_embeddings"))


def supported_architectures(python: Path, version: str) -> set[str]:
    """The architectures this vLLM implements (its ModelRegistry), cached per vLLM version."""
    cache = paths.cache_dir() / "vllm-cpu" / f"architectures-{version}.json"
    if cache.exists():
        return set(json.loads(cache.read_text()))
    code = ("import json\nfrom vllm.model_executor.models.registry import ModelRegistry\n"
            "print(json.dumps(sorted(ModelRegistry.get_supported_archs())))")
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SetupError(f"could not ask vLLM which architectures it supports ({e})") from None
    if out.returncode != 0:
        raise SetupError(f"could not ask vLLM which architectures it supports: "
                         f"{(out.stderr.strip().splitlines() or ['?'])[-1]}")
    archs = json.loads(out.stdout.strip().splitlines()[-1])
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(archs))
    return set(archs)


def check_supported(model: HfModel, supported: set[str]) -> None:
    if not model.architectures:
        raise ModelError(f"{model.folder}/config.json names no architectures; vLLM cannot pick an implementation")
    missing = [a for a in model.architectures if a not in supported]
    if missing:
        raise UsageError(f"vLLM does not support {', '.join(missing)} ({model.folder}); serve it with llama.cpp "
                         "(heavylift serve without --engine vllm)")


def cpu_kv_space_gib(model: HfModel, max_model_len: int, max_num_seqs: int) -> int:
    """VLLM_CPU_KVCACHE_SPACE (whole GiB) for max_num_seqs sequences of max_model_len tokens, from the
    planner's KV formula on the model's config (plan/memory.py), at least 1 GiB."""
    from heavylift.plan.memory import ContextConfig, kv_cache_bytes_per_layer
    from heavylift.plan.model_source import resolve

    arch = resolve(str(model.folder), None).arch
    kv = sum(kv_cache_bytes_per_layer(arch, ContextConfig(max_model_len * max_num_seqs, max_num_seqs)))
    return max(1, math.ceil(kv * 1.1 / GiB))


def check_fits_cpu(model: HfModel, kv_space_gib: int, available_bytes: int) -> None:
    """The CPU build holds the weights and VLLM_CPU_KVCACHE_SPACE in RAM."""
    need = model.weights_bytes + kv_space_gib * GiB
    if need > available_bytes:
        raise UsageError(f"{model.name} needs {need / GiB:.1f} GiB on vLLM's CPU build (weights "
                         f"{model.weights_bytes / GiB:.1f} GiB + KV {kv_space_gib} GiB) but {available_bytes / GiB:.1f} "
                         "GiB of RAM is available; use a smaller --ctx, or llama.cpp with a quantized GGUF")


def check_fits_gpus(model: HfModel, gpu_bytes: list[int], utilization: float) -> None:
    """vLLM keeps all weights on the GPUs (no CPU experts): they must fit within the utilization share."""
    budget = utilization * sum(gpu_bytes)
    if model.weights_bytes > 0.9 * budget:
        raise UsageError(f"{model.name}: weights {model.weights_bytes / GiB:.1f} GiB do not fit vLLM's way: "
                         f"{utilization:.0%} of {len(gpu_bytes)} GPU(s) is {budget / GiB:.1f} GiB and vLLM keeps every "
                         "weight on the GPUs; add GPUs/nodes (heavylift plan --hosts) or use llama.cpp")


def available_ram_bytes() -> int:
    """MemAvailable from /proc/meminfo (0 when unreadable: the check is then skipped by the caller)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
