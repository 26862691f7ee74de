"""Local detection through psutil: physical cores (what llama.cpp threads on) and installed RAM."""

from __future__ import annotations

import os

import psutil

from heavylift.hardware.local import physical_cores, total_memory_bytes
from heavylift.hardware.spec import detect_local


def test_physical_cores_and_memory() -> None:
    cores, counted = physical_cores()
    expected = psutil.cpu_count(logical=False)
    assert cores == (expected or os.cpu_count()) and ("physical" in counted) == bool(expected)
    assert cores <= (os.cpu_count() or cores)
    assert total_memory_bytes() == psutil.virtual_memory().total > 0


def test_detect_local_uses_them() -> None:
    rig = detect_local()
    cores, _ = physical_cores()
    assert rig.cpu_cores == cores
    assert any("psutil" in a for a in rig.assumptions)
