"""Machine measurement pieces: core counting, FLOP/cycle from SIMD flags, RAPL counters, the triad."""

from __future__ import annotations

from pathlib import Path

import pytest

from heavylift.bench.machine import (
    busy_note,
    fingerprint,
    flops_per_cycle,
    identity,
    physical_cores,
    triad,
)
from heavylift.bench.power import PowerSampler, rapl_domains

CPUINFO = "".join(f"processor\t: {i}\nphysical id\t: {i // 4}\ncore id\t\t: {i % 4 // 2}\n\n" for i in range(8))


def test_physical_cores_from_cpuinfo():
    # 8 logical CPUs, 2 sockets x 2 cores x 2 threads
    assert physical_cores(CPUINFO) == 4


def test_flops_per_cycle():
    assert flops_per_cycle(["avx", "avx2", "fma"], "x86_64")[0] == 32
    assert flops_per_cycle(["avx2", "fma", "avx512f"], "x86_64")[0] == 64
    assert flops_per_cycle([], "aarch64")[0] == 16
    assert flops_per_cycle([], "riscv64")[0] is None


def test_fingerprint_is_stable_and_names_the_hardware():
    ident = identity()
    assert fingerprint(ident) == fingerprint(dict(ident))
    assert fingerprint({**ident, "physical_cores": ident["physical_cores"] + 1}) != fingerprint(ident)
    assert ident["physical_cores"] >= 1 and ident["ram_bytes"] > 0


def test_busy_note():
    assert busy_note(0.1, 2) == ""
    assert "busy" in busy_note(3.0, 2)


def test_triad_measures_something():
    notes: list[str] = []
    bw, method = triad(1, notes)
    assert 1e8 < bw < 1e13, (bw, method)


def _zone(root: Path, name: str, domain: str, uj: int, max_uj: int = 1000_000_000) -> Path:
    z = root / name
    z.mkdir(parents=True)
    (z / "name").write_text(domain + "\n")
    (z / "energy_uj").write_text(f"{uj}\n")
    (z / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return z


def test_rapl_energy_with_wraparound(tmp_path):
    pkg = _zone(tmp_path, "intel-rapl:0", "package-0", 999_000_000)
    _zone(tmp_path, "intel-rapl:1", "psys", 5)  # platform total: skipped, it would double count
    dram = _zone(tmp_path, "intel-rapl:0:0", "dram", 0)
    assert [d.name for d in rapl_domains(tmp_path)] == ["package-0", "dram"]
    sampler = PowerSampler(interval_s=10, powercap=tmp_path)
    sampler.has_nvidia = False
    sampler.start()
    (pkg / "energy_uj").write_text("1000000\n")  # wrapped: 1 J before the top, 1 J after
    (dram / "energy_uj").write_text("500000\n")
    reading = sampler.stop()
    assert reading.by_source_w["rapl package-0"] * reading.seconds == pytest.approx(2.0, rel=1e-6)
    assert reading.by_source_w["rapl dram"] * reading.seconds == pytest.approx(0.5, rel=1e-6)
    assert reading.mean_w == pytest.approx(2.5 / reading.seconds)


def test_no_counters_says_so(tmp_path):
    sampler = PowerSampler(powercap=tmp_path)
    sampler.has_nvidia = False
    assert not sampler.is_available
    reading = sampler.start().stop()
    assert reading.mean_w is None and "no power counter" in reading.note
