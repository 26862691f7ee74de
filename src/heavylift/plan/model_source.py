"""Resolve what the user named (GGUF, config.json, model folder, catalog or stored name) to an
architecture and a tensor table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from heavylift.errors import ModelError, UsageError
from heavylift.models import catalog
from heavylift.models.gguf_file import GGUFFile
from heavylift.models.model_arch import ModelArch
from heavylift.plan.quant_rules import (
    TensorSpec,
    check_ftype,
    data_bytes,
    default_has_imatrix,
    needs_imatrix,
    quantized_tensors,
)
from heavylift.plan.tensor_table import header_bytes_estimate, loaded, tensor_table


@dataclass
class ModelSource:
    label: str
    arch: ModelArch
    tensors: list[TensorSpec]  # as llama-server loads them (GGUF: exact; otherwise: predicted for the quant);
    # MTP blocks, which the file may hold but llama-server skips, are left out
    quant: str  # file type ("Q4_K_M", or the GGUF's own)
    path: Path | None  # the GGUF to serve, when there is one
    hf_repo: str | None
    file_bytes: int | None  # predicted GGUF size for non-GGUF inputs (None for a GGUF: it exists)
    notes: list[str] = field(default_factory=list)  # cross-checks, printed with the plan's sources


def resolve(name: str, quant: str | None) -> ModelSource:
    path = Path(name).expanduser()
    if _looks_like_path(name) and not path.exists():
        raise UsageError(f"{name}: no such file or folder; give a .gguf file, a config.json or a model folder "
                         "(or a catalog name: `heavylift plan --list`)")
    if name.endswith(".gguf") or (path.is_file() and path.suffix == ".gguf"):
        return _from_gguf(path, name, quant)
    if path.is_dir() or path.name == "config.json" or name.endswith(".json"):
        return _from_config(path, quant)
    if catalog.canonical(name):
        return _predicted(catalog.lookup(name), name, quant, catalog.entry(name).hf_repo)
    try:  # a model stored with `heavylift models add`
        from heavylift.models.model_store import ModelStore

        stored = ModelStore().get(name)
        return _from_gguf(stored.path, stored.name, quant)
    except ModelError:
        pass
    catalog.lookup(name)  # raises with close names
    raise AssertionError("unreachable")


def _looks_like_path(name: str) -> bool:
    """A name with a folder separator, `~`, `.` at the start or a file suffix is a path, never a
    catalog or stored name (those are checked names without separators)."""
    return ("/" in name or "\\" in name or name.startswith(("~", ".")) or name.endswith((".gguf", ".json")))


def _from_gguf(path: Path, label: str, quant: str | None) -> ModelSource:
    gguf = GGUFFile.read(path)
    arch = ModelArch.from_gguf(gguf, name=Path(label).name)
    tensors = [TensorSpec(t.name, t.shape, t.ggml_type) for t in gguf.tensors]
    from heavylift.models.ggml_types import LLAMA_FTYPES

    own = LLAMA_FTYPES.get(gguf.get("general.file_type", -1), "unknown")
    if quant and check_ftype(quant) != own:
        # requantizing a GGUF: exact per-tensor prediction, header unchanged (llama-quantize copies the KV pairs)
        ftype = check_ftype(quant)
        header = gguf.file_bytes - data_bytes(tensors)
        new = quantized_tensors(arch, tensors, ftype)
        return ModelSource(label, arch, loaded(arch, new), ftype, None, None, header + data_bytes(new),
                           _notes(arch, new, ftype))
    return ModelSource(label, arch, loaded(arch, tensors), own, path, None, None, _notes(arch, tensors, None))


def _from_config(path: Path, quant: str | None) -> ModelSource:
    config_path = path / "config.json" if path.is_dir() else path
    if not config_path.is_file():
        raise ModelError(f"{config_path}: no such file; give a model folder with config.json, or the file itself")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{config_path}: not valid JSON ({e.__class__.__name__}: {e}); fix or re-download it") from None
    label = config_path.parent.name if config_path.parent.name else config_path.name
    arch = ModelArch.from_hf_config(config, name=label, source=str(config_path))
    src = _predicted(arch, label, quant, None)
    index = config_path.parent / "model.safetensors.index.json"
    if index.is_file():
        src.notes.append(_check_index(index, src, config.get("torch_dtype") or config.get("dtype")))
    return src


_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "float8_e4m3fn": 1}


def _check_index(index: Path, src: ModelSource, dtype: str | None) -> str:
    """The safetensors index's total_size (no download) against the parameters the config implies."""
    try:
        total = int(json.loads(index.read_text())["metadata"]["total_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"{index.name}: unreadable or without metadata.total_size; parameter count not cross-checked"
    width = _DTYPE_BYTES.get(str(dtype))
    if not width:
        return f"{index.name}: total_size {total:,} B, but dtype {dtype!r} is unknown; parameter count not cross-checked"
    predicted = sum(t.n_elements for t in src.tensors)
    stored = total // width
    off = (predicted - stored) / stored
    verdict = "agrees" if abs(off) <= 0.02 else "DISAGREES: the plan's sizes may be off (is config.json complete?)"
    return (f"{index.name}: {stored / 1e9:.2f} B parameters at {dtype} vs {predicted / 1e9:.2f} B from config.json "
            f"({100 * off:+.1f}%): {verdict}")


def _predicted(arch: ModelArch, label: str, quant: str | None, hf_repo: str | None) -> ModelSource:
    ftype = check_ftype(quant or "Q4_K_M")
    tensors = quantized_tensors(arch, tensor_table(arch), ftype)
    return ModelSource(label, arch, loaded(arch, tensors), ftype, None, hf_repo,
                       header_bytes_estimate(arch) + data_bytes(tensors), _notes(arch, tensors, ftype))


def _notes(arch: ModelArch, tensors: list[TensorSpec], ftype: str | None) -> list[str]:
    """What the plan's sources should say about the file beyond its tensor count."""
    notes = []
    mtp = [t for t in tensors if t.layer >= arch.n_layer]
    if mtp:
        notes.append(f"MTP: the file holds {arch.n_layer_nextn} multi-token-prediction block(s) "
                     f"({sum(t.n_bytes for t in mtp) / 2**30:.2f} GiB, {len(mtp)} tensors) that llama-server does "
                     "not load unless MTP drafting is asked for; they count in the file size, not in memory")
    if arch.expert_source_type:
        notes.append(f"experts: {arch.expert_source_type} as released; the converter keeps them and llama-quantize "
                     "does not requantize them, so the file type sets the other tensors only")
    if ftype and default_has_imatrix(ftype):
        notes.append(f"quantization: {ftype} predicted as llama-quantize makes it with an importance matrix "
                     + ("(required for this type: llama-quantize --imatrix)" if needs_imatrix(ftype)
                        else "(as published IQ files are made; without one a few ffn_down tensors differ)"))
    return notes


@dataclass
class CatalogRow:
    """One line of `heavylift plan --list`: the entry and the sizes its tensor table gives."""

    name: str
    architecture: str
    hf_repo: str
    n_layer: int
    n_expert: int
    n_expert_used: int
    total_params_b: float  # what llama-server loads (MTP blocks left out)
    active_params_b: float  # per token: shared tensors plus n_expert_used / n_expert of the experts, no input embedding
    n_ctx_train: int
    verification: str  # "verified" or "unverified: <config keys>"
    source: str


def catalog_rows() -> list[CatalogRow]:
    rows = []
    for key in catalog.names():
        e = catalog.entry(key)
        arch = catalog.lookup(key)
        tensors = loaded(arch, tensor_table(arch))
        total, active = params(arch, tensors)
        rows.append(CatalogRow(key, arch.arch, e.hf_repo, arch.n_layer, arch.n_expert, arch.n_expert_used,
                               round(total / 1e9, 2), round(active / 1e9, 2), arch.n_ctx_train,
                               "verified" if e.is_verified else "unverified: " + ", ".join(e.unverified), e.source))
    return rows


def params(arch: ModelArch, tensors: list[TensorSpec]) -> tuple[int, int]:
    """(total, active per token) parameter counts of a tensor table."""
    total = sum(t.n_elements for t in tensors)
    share = arch.n_expert_used / arch.n_expert if arch.n_expert else 1.0
    # the input embedding is a row lookup, not a matmul: it counts unless the output shares it
    active = sum(t.n_elements * (share if "_exps" in t.name else 1) for t in tensors
                 if not t.name.startswith("token_embd") or arch.tied_embeddings)
    return total, int(active)
