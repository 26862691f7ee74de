"""Plan-test fixtures: the MoE upcycle of the default model, built once and cached by input hash."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def moe_model_path(default_model_path: Path) -> Path:
    """4 experts, top-2, each a byte copy of the dense FFN (heavylift.models.moe_upcycle)."""
    from heavylift import paths
    from heavylift.models.moe_upcycle import upcycle, upcycle_cache_path

    out = upcycle_cache_path(default_model_path, 4, 2, paths.cache_dir())
    if not out.exists():
        upcycle(default_model_path, out, 4, 2)
    return out
