"""bench/gpu's model clones (make_kit.py header + manifest, fill_gguf.py data): fast, no engine, no GPU."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from heavylift.models.ggml_types import GGML_TYPES_BY_NAME

KIT = Path(__file__).resolve().parents[2] / "bench" / "gpu"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"gpu_{name}", KIT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_fill_gguf_block_layouts_are_ggmls():
    fill = _load("fill_gguf")  # a numpy-only copy for the GPU machine: it must agree with ggml's sizes
    for name, (size, fp16_at) in fill.BLOCKS.items():
        assert GGML_TYPES_BY_NAME[name].block_bytes == size, name
        assert all(0 <= off <= size - 2 for off in fp16_at), name


def test_a_clone_has_the_models_tensors_and_finite_scales(default_model_path, tmp_path, monkeypatch):
    from gguf import GGUFReader

    kit, fill = _load("make_kit"), _load("fill_gguf")
    monkeypatch.setattr(kit, "FULL", tmp_path / "full")
    kit.FULL.mkdir()
    manifest = kit.copy_header(default_model_path, tmp_path, "clone")
    (tmp_path / "clone.json").write_text(json.dumps(manifest))
    out = tmp_path / "clone.gguf"
    monkeypatch.setattr(sys, "argv", ["fill_gguf", str(tmp_path / "clone.head"), str(tmp_path / "clone.json"), str(out)])
    assert fill.main() == 0
    real, clone = GGUFReader(str(default_model_path)), GGUFReader(str(out))
    assert out.stat().st_size == default_model_path.stat().st_size
    assert [(t.name, t.tensor_type, t.data_offset) for t in clone.tensors] == [
        (t.name, t.tensor_type, t.data_offset) for t in real.tensors]
    q = next(t for t in clone.tensors if t.tensor_type.name == "Q4_1")
    scales = np.frombuffer(np.asarray(q.data).tobytes(), np.uint8).reshape(-1, 20)[:, :4].copy().view(np.float16)
    assert np.isfinite(scales).all() and (np.abs(scales) < 1).all()
