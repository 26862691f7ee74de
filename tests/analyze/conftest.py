"""Analyze-test fixtures: tiny random-weight models of a hybrid and a sliding-window architecture,
built once per machine into the shared cache (keyed by the builder's source, so a change rebuilds)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest


def _built(default_model_path: Path, kind: str) -> Path:
    from heavylift import paths
    from tests.analyze import arch_models

    source = Path(arch_models.__file__).read_bytes()
    tag = hashlib.sha256(source + str(default_model_path.stat().st_size).encode()).hexdigest()[:12]
    out = paths.cache_dir() / "test-models" / f"tiny-{kind}-{tag}.gguf"
    if not out.exists():
        writer = {"qwen35moe": arch_models.write_qwen35moe, "gpt-oss": arch_models.write_gpt_oss}[kind]
        writer(out, default_model_path)
    return out


@pytest.fixture(scope="session")
def hybrid_model_path(default_model_path: Path) -> Path:
    """qwen35moe: gated delta net (recurrent) layers + full attention, MoE FFN."""
    return _built(default_model_path, "qwen35moe")


@pytest.fixture(scope="session")
def swa_model_path(default_model_path: Path) -> Path:
    """gpt-oss: alternating 32-token sliding-window and full attention, MoE FFN with biases."""
    return _built(default_model_path, "gpt-oss")
