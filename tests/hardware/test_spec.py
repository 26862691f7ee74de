"""`--hw` specs: devices, RAM, measured bandwidth, sockets, backends, unified GPU shares, bad input."""

from __future__ import annotations

import pytest

from heavylift.errors import UsageError
from heavylift.hardware.catalog import GiB
from heavylift.hardware.spec import detect_local, parse_spec
from tests.conftest import run_cli


def test_gpus_ram_link() -> None:
    rig = parse_spec("2x rtx-5090, 256GB ddr5-6000 2ch, pcie5, 24 cores")
    assert [g.key for g in rig.gpus] == ["rtx-5090", "rtx-5090"]
    assert rig.ram_bytes == 256 * GiB and rig.ram_bandwidth_bps == pytest.approx(96e9)
    assert rig.host_link == "pcie5" and rig.cpu_cores == 24 and not rig.ram_bandwidth_measured


def test_measured_bandwidth_and_sockets() -> None:
    rig = parse_spec("64GB ddr4 4ch 102GB/s")
    assert rig.ram_bandwidth_bps == pytest.approx(102e9) and rig.ram_bandwidth_measured
    assert "measured" in rig.ram_source
    two = parse_spec("64 cores 2 sockets, 512GB ddr5-4800 12ch")
    assert two.sockets == 2 and two.cpu_cores == 64
    assert two.ram_bandwidth_bps == pytest.approx(2 * 12 * 4800e6 * 8)  # channels are per socket


def test_cpu_only_forms() -> None:
    rig = parse_spec("0x, 384GB ddr5-4800 12ch, 96 cores, 1 sockets")
    assert rig.gpus == [] and rig.cpu_cores == 96 and rig.sockets == 1
    assert parse_spec("0x, 16 cores").gpus == []


def test_soldered_lpddr_bus_width() -> None:
    # Radxa Dragon Q8B: LPDDR4X-4266 on a 128-bit bus (Radxa's spec table) = 2 x 64-bit channels
    rig = parse_spec("0x, 8GB lpddr4x-4266 128-bit, 8 cores, neon")
    assert rig.ram_bandwidth_bps == pytest.approx(4266e6 * 16) and rig.cpu_simd == "neon" and not rig.assumptions
    assert parse_spec("0x, 16GB lpddr5x 256 bit").ram_bandwidth_bps == pytest.approx(8533e6 * 32)
    assert any("LPDDR5-6400" in a for a in parse_spec("0x, 8GB lpddr5, 8 cores").assumptions)


def test_efficiency_cores() -> None:
    # `4 little`: of the 8 cores, 4 are efficiency cores (Radxa Dragon Q6A: 4x Cortex-A55)
    assert parse_spec("0x, 8GB, 8 cores, 4 little, neon").little_cores == 4
    assert parse_spec("0x, 12 cores, 4 e-cores").little_cores == 4
    assert parse_spec("0x, 12 cores, 4 little cores").little_cores == 4
    assert parse_spec("radxa-dragon-q6a").little_cores == 4 and parse_spec("radxa-dragon-q8b").little_cores == 0
    with pytest.raises(UsageError, match="little cores of 4 cores"):
        parse_spec("0x, 4 cores, 8 little")


def test_llamacpp_threads_on_hybrid_cpus() -> None:
    # Rig.threads: llama.cpp's default -t (common.cpp common_cpu_get_num_math) and a given -t
    x86 = parse_spec("0x, 20 cores, 12 little")
    assert x86.threads() == (8, 0)  # x86 Linux: the P-cores only
    assert parse_spec("0x, 8 cores, 4 little, neon").threads() == (4, 4)  # Arm: every core
    x86.n_threads = 10
    assert x86.threads() == (8, 2)  # the big cores first
    x86.n_threads = 64
    assert x86.threads() == (8, 12)  # one thread per core at most


def test_efficiency_cores_from_sysfs(tmp_path) -> None:
    from heavylift.hardware.local import efficiency_cores

    assert efficiency_cores(tmp_path) == (0, "")
    cpu = tmp_path / "devices" / "system" / "cpu"
    for i, cap in enumerate([284, 284, 284, 284, 1024, 1024, 1024, 1024]):  # 4x A55 + 4 big (QCS6490-like)
        (cpu / f"cpu{i}").mkdir(parents=True)
        (cpu / f"cpu{i}" / "cpu_capacity").write_text(f"{cap}\n")
    assert efficiency_cores(tmp_path)[0] == 4
    atom = tmp_path / "devices" / "cpu_atom"
    atom.mkdir(parents=True)
    (atom / "cpus").write_text("16-23,28\n")  # an Intel hybrid's E-cores, as the kernel lists them
    assert efficiency_cores(tmp_path) == (9, "Intel E-cores (/sys/devices/cpu_atom/cpus)")


def test_cpu_only_board_stands_for_its_spec() -> None:
    q8b = parse_spec("radxa-dragon-q8b")
    assert q8b.gpus == [] and q8b.cpu_cores == 8 and q8b.ram_bytes == 8 * GiB
    assert q8b.ram_bandwidth_bps == parse_spec("0x, 8GB lpddr4x-4266 128-bit, 8 cores, neon").ram_bandwidth_bps
    assert parse_spec("Radxa Dragon Q8B, 16GB").ram_bytes == 16 * GiB  # later parts override the board's
    assert any("assumed" in a for a in parse_spec("radxa-dragon-q6a").assumptions)  # its LPDDR5 speed is unknown


def test_backend_override() -> None:
    assert parse_spec("rx-7900-xtx").gpus[0].backend == "rocm"
    assert parse_spec("rx-7900-xtx, vulkan").gpus[0].backend == "vulkan"


@pytest.mark.parametrize("spec,share_gib", [("m2-ultra-192gb", 144), ("m3-ultra-512gb", 384),
                                            ("ryzen-ai-max-395-128gb", 64), ("dgx-spark", 115.2),
                                            ("ryzen-ai-max-395-128gb, 120GB gpu", 120)])
def test_unified_shares(spec: str, share_gib: float) -> None:
    rig = parse_spec(spec)
    assert rig.is_unified and rig.gpus[0].memory_bytes / GiB == pytest.approx(share_gib, rel=0.001)
    assert rig.ram_bytes + rig.gpus[0].memory_bytes == parse_spec(spec.split(",")[0]).gpus[0].memory_bytes + \
        parse_spec(spec.split(",")[0]).ram_bytes
    assert any("GPU may use" in a for a in rig.assumptions)


@pytest.mark.parametrize("spec,needle", [
    ("3x rtx-9999, 64GB", "did you mean"),
    ("rtx-4909", "rtx-4090"),
    ("radxa-dragon-q9b", "radxa-dragon-q8b"),
    ("", "empty hardware spec"),
    ("0x, rtx-4090", "0x"),
    ("2x m2-ultra-192gb", "unified"),
    ("64GB ddr5 0ch", "greater than zero"),
    ("8GB lpddr4x 96-bit", "multiple of 64 bits"),
    ("100x rtx-4090", "1..64"),
    ("1x rtx-4090, 48GB gpu", "unified-memory"),
])
def test_bad_specs_say_what_to_do(spec: str, needle: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_spec(spec)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_unknown_device_cli_one_line() -> None:
    proc = run_cli("plan", "qwen3-30b-a3b", "--hw", "1x rtx-4909")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "rtx-4090" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_local_detection() -> None:
    rig = detect_local()
    assert rig.cpu_cores and rig.cpu_cores >= 1 and rig.ram_bytes > 0 and rig.sockets >= 1
    assert rig.cpu_simd in ("avx2", "avx512", "neon")
