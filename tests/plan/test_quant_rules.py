"""quant_rules against llama-quantize itself: per-tensor types and file size must match exactly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from heavylift.models.gguf_file import GGUFFile
from heavylift.models.model_arch import ModelArch
from heavylift.plan.quant_rules import TensorSpec, data_bytes, quantized_tensors
from heavylift.plan.tensor_table import tensor_table


@pytest.mark.parametrize("ftype", ["Q4_K_M", "Q3_K_M", "Q8_0"])
def test_requantize_matches_llama_quantize(ftype, default_model_path: Path, engine_bin_dir: Path, tmp_path: Path):
    out = tmp_path / f"smol-{ftype}.gguf"
    proc = subprocess.run([str(engine_bin_dir / "llama-quantize"), "--allow-requantize", str(default_model_path),
                           str(out), ftype, "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    src, real = GGUFFile.read(default_model_path), GGUFFile.read(out)
    arch = ModelArch.from_gguf(src)
    specs = [TensorSpec(t.name, t.shape, t.ggml_type) for t in src.tensors]
    predicted = {t.name: t.ggml_type.name for t in quantized_tensors(arch, specs, ftype)}
    assert {t.name: t.ggml_type.name for t in real.tensors} == predicted
    header = src.file_bytes - data_bytes(specs)
    assert header + data_bytes(quantized_tensors(arch, specs, ftype)) == real.file_bytes


def test_tensor_table_reproduces_gguf(default_model_path: Path, moe_model_path: Path):
    for path in (default_model_path, moe_model_path):
        gguf = GGUFFile.read(path)
        generated = {t.name: t.shape for t in tensor_table(ModelArch.from_gguf(gguf))}
        assert generated == {t.name: t.shape for t in gguf.tensors}


def test_catalog_parameter_counts():
    """Totals the vendors publish (B params, total / active) come out of the catalog architectures."""
    from heavylift.models import catalog

    expected = {"qwen3-235b-a22b": (235.1, 22.2), "qwen3-30b-a3b": (30.5, 3.3), "deepseek-v3": (671.0, 37.5),
                "llama-3.1-70b": (70.6, 70.6), "mixtral-8x7b": (46.7, 12.9), "qwen3.5-397b-a17b": (396.4, 17.4)}
    for name, (total, active) in expected.items():
        a = catalog.lookup(name)
        tt = tensor_table(a)
        n = sum(t.n_elements for t in tt) / 1e9
        act = sum(t.n_elements * (a.n_expert_used / a.n_expert if "_exps" in t.name else 1) for t in tt) / 1e9
        assert abs(n - total) / total < 0.01, (name, n)
        assert abs(act - active) / active < 0.02, (name, act)
