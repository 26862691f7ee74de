"""quant_rules against llama-quantize itself: per-tensor types and file size must match exactly.

Three models: the default SmolLM2 (576-wide rows: most 256-block types fall back), and two tiny
random llamas with 256-divisible rows (tests/plan/tiny_gguf.py): a dense one with 2 query heads per
KV head and an 8-expert MoE with 4 (the n_gqa >= 4 and n_expert == 8 rules). `--dry-run` makes
llama-quantize print every tensor's type without quantizing, so every file type is checked on
every model; a few types are also quantized for real (with an importance matrix from
llama-imatrix on samples/documents) to check the bytes. IQ quantization is slow on two cores:
SmolLM2 for real is behind the `slow` marker.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from heavylift.models.gguf_file import GGUFFile
from heavylift.models.model_arch import ModelArch
from heavylift.plan.quant_rules import (
    NEEDS_IMATRIX,
    SUPPORTED_FTYPES,
    TensorSpec,
    check_ftype,
    data_bytes,
    quantized_tensors,
    requires_imatrix,
)
from heavylift.plan.tensor_table import tensor_table

REPO = Path(__file__).resolve().parents[2]
# file types whose rules read has_imatrix (llama_tensor_get_type_impl), checked both ways
IMATRIX_SENSITIVE = ["IQ3_XXS", "IQ4_NL", "IQ4_XS", "Q4_0", "Q5_0"]
_DRY_LINE = re.compile(r"\]\s+(\S+)\s+- \[.*?\], type =\s+(\w+), size =.*?(?:\((\w+)\))?\s*$")


def _specs(path: Path) -> tuple[ModelArch, list[TensorSpec]]:
    src = GGUFFile.read(path)
    return ModelArch.from_gguf(src), [TensorSpec(t.name, t.shape, t.ggml_type) for t in src.tensors]


def _cached(path: Path, make) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        make(path)
    return path


@pytest.fixture(scope="session")
def quant_models(default_model_path: Path) -> dict[str, Path]:
    from heavylift import paths

    from .tiny_gguf import TinyShape, write_tiny_llama

    shapes = {"dense": TinyShape(n_embd=256, n_ff=768, n_head=8, n_head_kv=4, n_vocab=1024, n_layer=8),
              "moe8": TinyShape(n_embd=256, n_ff=256, n_head=8, n_head_kv=2, n_vocab=1024, n_layer=8,
                                n_expert=8, n_expert_used=2)}
    cache = paths.cache_dir() / "test-models"
    models = {name: _cached(cache / f"{s.stem}.gguf", lambda p, s=s: write_tiny_llama(p, s))
              for name, s in shapes.items()}
    return {"smollm2": default_model_path, **models}


@pytest.fixture(scope="session")
def imatrices(quant_models: dict[str, Path], engine_bin_dir: Path) -> dict[str, Path]:
    """llama-imatrix over samples/documents/*.md for each model, cached by model and text."""
    from heavylift import paths

    text = "\n".join(p.read_text() for p in sorted((REPO / "samples" / "documents").glob("*.md")))
    out = {}
    for name, model in quant_models.items():
        key = hashlib.sha256(f"{model.stat().st_size}:{model.name}:{text}".encode()).hexdigest()[:16]
        target = paths.cache_dir() / "test-models" / f"{model.stem}-{key}.imatrix.gguf"
        if not target.exists():
            calib, part = target.with_suffix(".txt"), target.with_name(f"{target.name}.{os.getpid()}.part")
            calib.write_text(text)
            proc = subprocess.run([str(engine_bin_dir / "llama-imatrix"), "-m", str(model), "-f", str(calib),
                                   "-o", str(part), "-c", "128", "--chunks", "4", "-t", "2"],
                                  capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0 and part.exists(), proc.stderr[-2000:]
            part.replace(target)  # complete or absent, never half-written
        out[name] = target
    return out


def _quantize(bin_dir: Path, src: Path, out: Path, ftype: str, imatrix: Path | None = None,
              dry_run: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [str(bin_dir / "llama-quantize"), "--allow-requantize"]
    cmd += ["--imatrix", str(imatrix)] if imatrix else []
    ftype = check_ftype(ftype)  # llama-quantize knows MXFP4_MOE, not the alias MXFP4
    cmd += ["--dry-run", str(src), ftype] if dry_run else [str(src), str(out), ftype]
    return subprocess.run(cmd + ["2"], capture_output=True, text=True, timeout=600)


def _dry_run_types(log: str) -> dict[str, str]:
    """Per-tensor target types from a --dry-run log (a tensor left as it is has no '(type)')."""
    types = {}
    for line in log.splitlines():
        m = _DRY_LINE.search(line)
        if m:
            types[m.group(1)] = (m.group(3) or m.group(2)).upper()
    return types


def _check_dry_run(bin_dir: Path, model: Path, ftype: str, imatrix: Path | None) -> None:
    proc = _quantize(bin_dir, model, Path("-"), ftype, imatrix, dry_run=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    real = _dry_run_types(proc.stdout + proc.stderr)
    arch, specs = _specs(model)
    predicted = quantized_tensors(arch, specs, ftype, has_imatrix=imatrix is not None)
    assert len(real) == len(specs)
    assert real == {t.name: t.ggml_type.name for t in predicted}
    if imatrix is None:  # llama-quantize's own verdict on needing an importance matrix
        warned = "will require an imatrix" in proc.stdout + proc.stderr
        assert warned == bool(requires_imatrix(predicted, ftype)), (ftype, warned)


@pytest.mark.parametrize("which", ["smollm2", "dense", "moe8"])
def test_every_file_type_without_imatrix_matches_dry_run(which, quant_models, engine_bin_dir):
    for ftype in SUPPORTED_FTYPES:
        _check_dry_run(engine_bin_dir, quant_models[which], ftype, None)


@pytest.mark.parametrize("which", ["smollm2", "dense", "moe8"])
def test_imatrix_file_types_match_dry_run(which, quant_models, imatrices, engine_bin_dir):
    for ftype in sorted(NEEDS_IMATRIX) + IMATRIX_SENSITIVE:
        _check_dry_run(engine_bin_dir, quant_models[which], ftype, imatrices[which])


def test_needs_imatrix_matches_llama_quantize(quant_models, engine_bin_dir, tmp_path):
    """Without --imatrix llama-quantize refuses exactly the file types quant_rules says need one."""
    for ftype in ("IQ2_XXS", "IQ3_XS", "IQ2_M", "Q2_K_S"):
        proc = _quantize(engine_bin_dir, quant_models["dense"], tmp_path / "x.gguf", ftype)
        assert proc.returncode != 0 and "requires an imatrix" in proc.stdout + proc.stderr, ftype


def _check_real(bin_dir: Path, model: Path, ftype: str, imatrix: Path | None, out: Path) -> None:
    from gguf import GGUFReader

    proc = _quantize(bin_dir, model, out, ftype, imatrix)
    assert proc.returncode == 0, proc.stderr[-2000:]
    arch, specs = _specs(model)
    predicted = quantized_tensors(arch, specs, ftype, has_imatrix=imatrix is not None)
    real = GGUFFile.read(out)
    assert {t.name: t.ggml_type.name for t in real.tensors} == {t.name: t.ggml_type.name for t in predicted}
    # every byte after the header is a predicted tensor (each padded to 32 bytes)
    assert data_bytes(predicted) == real.file_bytes - GGUFReader(str(out)).data_offset
    source = GGUFFile.read(model)
    if imatrix is None and source.get("general.quantization_version") is not None:
        # llama-quantize copies the KV pairs (and sets quantization_version, here already present):
        # the planner's requantize size is the source header plus the predicted tensors
        assert source.file_bytes - data_bytes(specs) + data_bytes(predicted) == real.file_bytes


@pytest.mark.parametrize("ftype", ["Q4_K_M", "Q3_K_M", "Q8_0"])
def test_requantize_matches_llama_quantize(ftype, default_model_path: Path, engine_bin_dir: Path, tmp_path: Path):
    _check_real(engine_bin_dir, default_model_path, ftype, None, tmp_path / f"smol-{ftype}.gguf")


@pytest.mark.parametrize("which,ftype,with_imatrix", [
    ("dense", "IQ2_XXS", True), ("dense", "IQ3_XXS", True), ("dense", "IQ4_XS", False),
    ("moe8", "IQ1_M", True), ("moe8", "MXFP4", False),
])
def test_iq_files_match_llama_quantize(which, ftype, with_imatrix, quant_models, imatrices, engine_bin_dir, tmp_path):
    imatrix = imatrices[which] if with_imatrix else None
    _check_real(engine_bin_dir, quant_models[which], ftype, imatrix, tmp_path / f"{which}-{ftype}.gguf")


@pytest.mark.slow
@pytest.mark.parametrize("ftype", ["IQ1_S", "IQ2_XXS", "IQ2_M", "IQ3_XS", "IQ3_M", "IQ4_XS", "IQ4_NL"])
def test_iq_files_of_the_default_model(ftype, request, quant_models, imatrices, engine_bin_dir, tmp_path):
    """SmolLM2 for real: 576-wide rows make most tensors fall back (IQ4_NL, Q5_0, ...).
    Minutes per type on two cores, so run only when asked for: `bash scripts/test.sh -m slow`."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("minutes long: run it with `bash scripts/test.sh -m slow`")
    _check_real(engine_bin_dir, quant_models["smollm2"], ftype, imatrices["smollm2"], tmp_path / f"smol-{ftype}.gguf")


def test_tensor_table_reproduces_gguf(default_model_path: Path, moe_model_path: Path):
    for path in (default_model_path, moe_model_path):
        gguf = GGUFFile.read(path)
        generated = {t.name: t.shape for t in tensor_table(ModelArch.from_gguf(gguf))}
        assert generated == {t.name: t.shape for t in gguf.tensors}
