"""`heavylift quantize`: a Hugging Face folder (converted by the pinned llama.cpp's
convert_hf_to_gguf.py) or a GGUF (requantized) -> one GGUF per target type with llama-quantize,
optionally guided by an importance matrix (llama-imatrix). Disk is checked against the planner's
predicted sizes first; every file is written under a temporary name and renamed when complete,
and only then added to the model store, so an interrupted run leaves nothing half-made registered."""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from heavylift import paths
from heavylift.errors import ModelError, UsageError
from heavylift.models import hf_convert
from heavylift.models.ggml_types import LLAMA_FTYPES
from heavylift.models.gguf_file import GGUFFile
from heavylift.models.llama_tools import (
    Progress,
    ToolError,
    imatrix_command,
    quantize_command,
    run_tool,
)
from heavylift.models.model_store import ModelStore
from heavylift.plan.quant_rules import NEEDS_IMATRIX, check_ftype

UNQUANTIZED = ("F32", "F16", "BF16")
SIZE_MARGIN = 0.01  # the header of a converted model is estimated (plan/tensor_table header_bytes_estimate)
IMATRIX_CTX = 512  # llama-imatrix's default context (tools/imatrix/imatrix.cpp main: params.n_ctx = 512)


@dataclass
class QuantizeConfig:
    source: str  # a stored model name, a .gguf path, or a Hugging Face folder
    ftypes: list[str]
    imatrix_text: Path | None = None
    out_dir: Path | None = None  # default: heavylift's model cache (files deleted by `models rm`)
    name: str | None = None
    keep_free_bytes: int = 1 << 30  # refuse unless this much disk stays free afterwards
    keep_intermediate: bool = False  # keep (and register) the 16-bit GGUF converted from a folder


@dataclass
class QuantizeOutput:
    name: str
    ftype: str
    path: str
    file_bytes: int
    predicted_bytes: int | None  # plan/quant_rules prediction made before starting
    seconds: float
    is_requantized: bool
    is_reused: bool = False  # already built by an earlier run


@dataclass
class _Source:
    label: str  # the base of output names
    gguf: Path | None  # None until a folder is converted
    folder: hf_convert.HFFolder | None
    ftype: str  # the source's own file type (folder: its 16-bit intermediate)


@dataclass
class _Target:
    ftype: str
    name: str
    path: Path
    is_copy: bool  # inside heavylift's cache: `models rm` deletes it
    predicted_bytes: int | None
    reuse: bool = False
    notes: list[str] = field(default_factory=list)


def quantize(config: QuantizeConfig, say: Callable[[str], None]) -> list[QuantizeOutput]:
    ftypes = list(dict.fromkeys(check_ftype(f) for f in config.ftypes))
    if not ftypes:
        raise UsageError("--to needs at least one type, e.g. --to Q4_K_M,Q3_K_M")
    needy = [f for f in ftypes if f in NEEDS_IMATRIX]
    if needy and not config.imatrix_text:
        raise UsageError(f"{', '.join(needy)} need(s) an importance matrix (llama.cpp refuses these types without one: "
                         "src/llama-quant.cpp tensor_requires_imatrix); add --imatrix TEXTFILE with text like your documents")
    if config.imatrix_text and not config.imatrix_text.is_file():
        raise UsageError(f"--imatrix {config.imatrix_text}: no such file; give a text file to compute the importance matrix on")
    store = ModelStore()
    source = _resolve_source(config.source, store)
    for f in ftypes:
        if f == source.ftype:
            raise UsageError(f"{config.source} is already {f}; choose another --to type")
    targets = [_target(config, source, f, len(ftypes), store) for f in ftypes]
    intermediate = _intermediate_target(config, source) if source.folder else None
    _check_disk(config, source, targets, intermediate, say)

    if source.ftype not in UNQUANTIZED:
        say(f"quantize: warning: {config.source} is already quantized ({source.ftype}); requantizing loses more "
            "quality than quantizing from the original 16-bit weights (llama-quantize --allow-requantize). "
            "Quantize the Hugging Face folder instead when you have it.")
    if source.folder and intermediate:
        if not intermediate.reuse:
            _write_atomically(intermediate.path, lambda tmp: hf_convert.convert(
                source.folder, tmp, _log_path(f"convert-{intermediate.name}"), say))
        source.gguf = intermediate.path
    assert source.gguf is not None
    imatrix = _imatrix(source.gguf, config.imatrix_text, say) if config.imatrix_text else None
    outputs: list[QuantizeOutput] = []
    try:
        for target in targets:
            outputs.append(_quantize_one(source, target, imatrix, store, say))
    finally:
        if source.folder and intermediate and intermediate.path.exists():
            if config.keep_intermediate:
                kept = _register(store, intermediate, source_text=str(source.folder.path))
                say(f"quantize: kept the {source.ftype} intermediate as {kept.name} ({kept.path})")
            elif len(outputs) == len(targets):
                _remove(intermediate)
            else:  # reused by the next run instead of converting again
                say(f"quantize: the converted {source.ftype} file stays at {intermediate.path} for the next run")
    return outputs


# -- planning ---------------------------------------------------------------------------------------
def _resolve_source(source: str, store: ModelStore) -> _Source:
    path = Path(source).expanduser()
    if path.is_dir():
        folder = hf_convert.check_folder(path)
        return _Source(_safe_name(path.resolve().name), None, folder, folder.outtype.upper())
    if not path.exists() and ("/" in source or source.endswith(".gguf")):
        raise ModelError(f"{source}: no such file or folder; give a .gguf, a Hugging Face model folder or a stored model name")
    if path.is_file() and path.name == "config.json":
        return _resolve_source(str(path.parent), store)
    stored = store.resolve(source)
    gguf = GGUFFile.read(stored.path)
    own = LLAMA_FTYPES.get(gguf.get("general.file_type", -1), "unknown")
    label = stored.name if stored.name in store.names() else _safe_name(stored.path.stem)
    return _Source(label, stored.path, None, own)


def _safe_name(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.") or "model"


def _target(config: QuantizeConfig, source: _Source, ftype: str, num_types: int, store: ModelStore) -> _Target:
    base = (config.name or "").lower()
    name = base if base and num_types == 1 else f"{base or source.label}-{ftype.lower()}"
    paths.check_name(name, "model name (--name)")  # the one check for names that become paths
    if config.out_dir:
        target = _Target(ftype, name, config.out_dir.expanduser().resolve() / f"{name}.gguf", False, None)
    else:
        target = _Target(ftype, name, paths.models_dir() / name / f"{name}.gguf", True, None)
    existing = store.db.execute("SELECT path FROM models WHERE name=?", (name,)).fetchone()
    if existing:
        if Path(existing["path"]) == target.path and target.path.exists() and _file_type(target.path) == ftype:
            target.reuse = True
        else:
            raise UsageError(f"a model named {name!r} already exists ({existing['path']}); pass --name to choose "
                             f"another, or `heavylift models rm {name}` first")
    elif target.path.exists():
        raise UsageError(f"{target.path} already exists and is not a stored model; move it away or choose --out/--name")
    target.predicted_bytes = _predicted_bytes(source, ftype)
    return target


def _intermediate_target(config: QuantizeConfig, source: _Source) -> _Target:
    name = f"{(config.name or '').lower() or source.label}-{source.ftype.lower()}"
    folder = config.out_dir.expanduser().resolve() if config.out_dir else paths.models_dir() / name
    target = _Target(source.ftype, name, folder / f"{name}.gguf", not config.out_dir, _predicted_bytes(source, source.ftype))
    target.reuse = target.path.exists() and _file_type(target.path) == source.ftype
    return target


def _predicted_bytes(source: _Source, ftype: str) -> int | None:
    """The planner's per-tensor prediction (plan/quant_rules, llama_tensor_get_type): exact for a GGUF
    source, header estimated for a folder. None when the planner does not know the architecture."""
    from heavylift.plan.model_source import resolve

    where = str(source.folder.path) if source.folder else str(source.gguf)
    try:
        return resolve(where, ftype).file_bytes
    except (ModelError, UsageError, KeyError, ValueError):
        return None


def _check_disk(config: QuantizeConfig, source: _Source, targets: list[_Target], intermediate: _Target | None,
                say: Callable[[str], None]) -> None:
    from heavylift.cli.common import human_bytes

    todo = [t for t in targets if not t.reuse] + ([intermediate] if intermediate and not intermediate.reuse else [])
    if not todo:
        return
    unknown = [t for t in todo if t.predicted_bytes is None]
    if unknown and source.folder:
        # The planner cannot size this architecture: the 16-bit weights bound every output from above.
        upper = sum(p.stat().st_size for p in source.folder.path.glob("*.safetensors")) or None
        for t in unknown:
            t.predicted_bytes = upper
            t.notes.append("upper bound: the folder's weights")
    root = _existing_parent(todo[0].path)
    need = sum(int((t.predicted_bytes or 0) * (1 + SIZE_MARGIN)) for t in todo)
    free = shutil.disk_usage(root).free
    parts = ", ".join(f"{t.ftype}{' intermediate' if t is intermediate else ''} "
                      f"{human_bytes(t.predicted_bytes) if t.predicted_bytes else 'unknown'}" for t in todo)
    if free - need < config.keep_free_bytes:
        raise UsageError(
            f"not enough disk in {root}: the files need about {human_bytes(need)} ({parts}; predicted with llama.cpp's "
            f"quantization rules, +{SIZE_MARGIN:.0%}) and {human_bytes(config.keep_free_bytes)} must stay free "
            f"(--keep-free), but {human_bytes(free)} is free; free some space or write elsewhere with --out DIR")
    say(f"quantize: {len(todo)} file(s) to write in {root}: {parts} (predicted); {human_bytes(free)} free")


def _existing_parent(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


# -- doing ------------------------------------------------------------------------------------------
def _quantize_one(source: _Source, target: _Target, imatrix: Path | None, store: ModelStore,
                  say: Callable[[str], None]) -> QuantizeOutput:
    from heavylift.cli.common import human_bytes
    from heavylift.setup.engine_build import current_engine

    is_requant = source.ftype not in UNQUANTIZED
    if target.reuse:
        say(f"quantize: {target.name} ({target.ftype}) already built: {target.path}")
        return QuantizeOutput(target.name, target.ftype, str(target.path), target.path.stat().st_size,
                              target.predicted_bytes, 0.0, is_requant, is_reused=True)
    assert source.gguf is not None
    gguf = GGUFFile.read(source.gguf)
    total = sum(t.n_elements for t in gguf.tensors) or 1
    binary = current_engine().binary("llama-quantize")
    progress = Progress(say, f"quantize: {target.ftype}", "tensors")
    state = {"elements": 0}
    line_re = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]\s+\S+\s+-\s+\[([\d,\s]+)\]")

    def on_line(line: str) -> None:
        m = line_re.match(line)
        if m:
            n = 1
            for dim in m[3].split(","):
                n *= int(dim.strip() or 1)
            state["elements"] += n
            progress.update(state["elements"] / total, int(m[1]), int(m[2]))

    def write(tmp: Path) -> None:
        cmd = quantize_command(binary, source.gguf, tmp, target.ftype, imatrix=imatrix, allow_requantize=is_requant)
        say(f"quantize: {' '.join(cmd)}")
        run_tool(cmd, _log_path(f"quantize-{target.name}"), on_line, what="llama-quantize")

    _write_atomically(target.path, write)
    stored = _register(store, target, source_text=str(source.folder.path if source.folder else source.gguf))
    size = stored.file_bytes
    predicted = target.predicted_bytes
    vs = f", predicted {human_bytes(predicted)} ({100 * (size - predicted) / predicted:+.1f}%)" if predicted else ""
    say(f"quantize: {target.ftype} done in {progress.elapsed_s:.1f} s: {human_bytes(size)}{vs}; added as {stored.name}")
    return QuantizeOutput(stored.name, target.ftype, str(stored.path), size, predicted, round(progress.elapsed_s, 2),
                          is_requant)


def _write_atomically(final: Path, write: Callable[[Path], None]) -> None:
    """write(tmp) then rename tmp -> final; an interruption or failure removes tmp."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(final.name + ".partial")
    tmp.unlink(missing_ok=True)  # left by a run that was killed outright
    try:
        write(tmp)
        if not tmp.is_file():
            raise ToolError(f"the tool finished but wrote no {tmp}")
        tmp.replace(final)
    finally:
        tmp.unlink(missing_ok=True)
        if final.parent.parent == paths.models_dir() and not any(final.parent.iterdir()):
            final.parent.rmdir()  # the empty per-model folder of a failed first attempt


def _register(store: ModelStore, target: _Target, source_text: str):
    return store.add(target.path, name=target.name, copy=target.is_copy, source=source_text, replace=True)


def _remove(target: _Target) -> None:
    target.path.unlink(missing_ok=True)
    if target.is_copy and target.path.parent.exists() and not any(target.path.parent.iterdir()):
        target.path.parent.rmdir()


def _file_type(path: Path) -> str:
    try:
        return LLAMA_FTYPES.get(GGUFFile.read(path).get("general.file_type", -1), "unknown")
    except ModelError:
        return "unreadable"


def _log_path(stem: str) -> Path:
    return paths.logs_dir() / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.log"


_ETA = re.compile(r"([\d.]+) seconds per pass - ETA (?:(\d+) hours )?([\d.]+) minutes")
_CHUNKS = re.compile(r"computing over (\d+) chunks")


def _imatrix(model: Path, text: Path, say: Callable[[str], None]) -> Path:
    """Compute (or reuse) the importance matrix of `model` over `text`: cached by both contents."""
    from heavylift.setup.engine_build import current_engine

    h = hashlib.sha256()
    h.update(text.read_bytes())
    h.update(f"|{model.resolve()}|{model.stat().st_size}|{model.stat().st_mtime_ns}|{IMATRIX_CTX}".encode())
    out = paths.cache_dir() / "imatrix" / f"{_safe_name(model.stem)}-{h.hexdigest()[:16]}.imatrix.gguf"
    if out.is_file():
        say(f"quantize: reusing the importance matrix {out}")
        return out
    binary = current_engine().binary("llama-imatrix")
    say(f"quantize: computing the importance matrix of {model.name} over {text}")
    started = time.monotonic()

    def on_line(line: str) -> None:
        if m := _CHUNKS.search(line):
            say(f"quantize: imatrix over {m[1]} chunks of {IMATRIX_CTX} tokens")
        elif m := _ETA.search(line):
            minutes = float(m[3]) + 60 * int(m[2] or 0)
            say(f"quantize: imatrix {float(m[1]):.1f} s per pass, ETA {60 * minutes:.0f} s (llama-imatrix's estimate)")

    def write(tmp: Path) -> None:
        cmd = imatrix_command(binary, model, text, tmp, ctx=IMATRIX_CTX, max_chunks=None)
        say(f"quantize: {' '.join(cmd)}")
        try:
            run_tool(cmd, _log_path("imatrix"), on_line, what="llama-imatrix")
        except ToolError as e:
            if "you need at least" in str(e) or "tokenizes to only" in str(e):
                raise UsageError(f"--imatrix {text} is too short: llama-imatrix needs at least {2 * IMATRIX_CTX} tokens "
                                 f"(2 x its context of {IMATRIX_CTX}); give more text") from None
            raise

    _write_atomically(out, write)
    say(f"quantize: importance matrix computed in {time.monotonic() - started:.1f} s -> {out}")
    return out
