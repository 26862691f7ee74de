"""The device catalog: every rig the issue names, each figure present, sourced and plausible."""

from __future__ import annotations

import json

import pytest

from heavylift.hardware.catalog import BACKENDS, DEVICES, GiB, apple_gpu_share, closest, describe
from heavylift.plan.speed_cases import load_rows
from tests.conftest import run_cli

REQUIRED = ["rtx-2080", "rtx-2080-ti", "rtx-3060-12gb", "rtx-3080", "rtx-4060-ti-16gb", "rtx-4070-ti-super", "rtx-4080",
            "rtx-4090d", "rtx-5060-ti-16gb", "rtx-5070-ti", "rtx-5080", "a6000", "l40s", "rx-7900-xtx", "mi300x",
            "m1-ultra-128gb", "m2-ultra-192gb", "m3-max-128gb", "m4-max-128gb", "m3-ultra-512gb", "dgx-spark",
            "ryzen-ai-max-395-128gb",
            # today's ids keep working
            "rtx-3090", "rtx-3090-ti", "rtx-4090", "rtx-5090", "a100-40gb", "a100-80gb", "h100", "h200", "rtx-pro-6000"]


@pytest.mark.parametrize("key", REQUIRED)
def test_required_device_present_with_figures(key: str) -> None:
    d = DEVICES[key]
    assert d.memory_bytes >= 8 * GiB and 60e9 <= d.bandwidth_bps <= 6e12
    assert 2e12 <= d.fp16_flops <= 2e15 and 30 <= d.tdp_w <= 1000
    assert d.backend in BACKENDS and d.kind in ("gpu", "unified")
    assert len(d.source) > 40  # names the datasheet / whitepaper it came from
    assert d.price_usd is None or 200 <= d.price_usd <= 20000
    if d.kind == "unified":
        assert 0 < d.gpu_share < 1 and d.share_note and d.cpu_cores


def test_every_hw_id_the_public_measurements_use_is_known() -> None:
    """bench/speed_model_vs_public.py can only predict rows whose devices the catalog has."""
    from heavylift.hardware.spec import parse_spec

    bad = {}
    for row in load_rows():
        try:
            parse_spec(row["hw"])
        except Exception as e:  # noqa: BLE001 - the message is the point
            bad[row["hw"]] = str(e)
    assert not bad, bad


def test_consistent_flops_convention() -> None:
    """FP16 with FP16 accumulate, dense: the whitepapers' GeForce figures (not the FP32-accumulate half)."""
    assert DEVICES["rtx-4090"].fp16_flops == pytest.approx(330.3e12, rel=0.01)
    assert DEVICES["rtx-3090"].fp16_flops == pytest.approx(142e12, rel=0.01)
    assert DEVICES["rtx-5090"].fp16_flops == pytest.approx(3352e12 / 8, rel=0.01)  # AI TOPS (FP4 sparse) / 8


def test_apple_working_set_rule() -> None:
    # ggml_metal_init logs: 16 GB -> 10922.67 MB, 32 GB -> 21845.34 MB, 96 GB -> 73728 MB
    assert apple_gpu_share(16 * GiB) * 16 * 1024 == pytest.approx(10922.67, abs=0.01)
    assert apple_gpu_share(32 * GiB) * 32 * 1024 == pytest.approx(21845.34, abs=0.01)
    assert apple_gpu_share(96 * GiB) * 96 * 1024 == pytest.approx(73728)


def test_closest_names() -> None:
    assert "rtx-4090" in closest("rtx-4909")
    assert "m2-ultra-192gb" in closest("m2-ultra-192")


def test_list_hardware_cli() -> None:
    proc = run_cli("plan", "--list-hardware")
    assert proc.returncode == 0, proc.stderr
    for key in REQUIRED:
        assert key in proc.stdout
    assert "recommendedMaxWorkingSetSize" in proc.stdout and "GTT" in proc.stdout  # the unified shares, sourced
    assert "radxa-dragon-q8b: 0x, 8GB lpddr4x-4266 128-bit" in proc.stdout  # CPU-only boards, sourced
    rows = json.loads(run_cli("plan", "--list-hardware", "--json").stdout)
    assert {r["id"] for r in rows} == set(DEVICES)
    assert describe(DEVICES["dgx-spark"])["bandwidth_gbs"] == pytest.approx(273)


@pytest.mark.parametrize("key", list(DEVICES))
def test_a_plan_works_on_every_device(key: str) -> None:
    """issue 12 'done means': a plan for each rig works (memory, placement, speed)."""
    from heavylift.hardware.spec import parse_spec
    from heavylift.plan.memory import ContextConfig
    from heavylift.plan.model_source import resolve
    from heavylift.plan.planner import make_plan

    plan = make_plan(resolve("qwen3-30b-a3b", "Q4_K_M"), parse_spec(key), ContextConfig(8192), suggest=False)
    assert plan.decode_tps > 1 and plan.prefill_tps > 10 and plan.ttft_s > 0


@pytest.mark.parametrize("smi_name, key", [("H100 80GB HBM3", "h100"), ("H200", "h200"), ("H100 PCIe", "h100-pcie"),
                                           ("A100-SXM4-80GB", "a100-80gb"), ("RTX 4090", "rtx-4090"),
                                           ("RTX PRO 6000 Blackwell Workstation Edition", "rtx-pro-6000"),
                                           ("RTX PRO 6000 Blackwell Max-Q Workstation Edition", "rtx-pro-6000-max-q")])
def test_nvidia_smi_names_find_their_device(smi_name: str, key: str) -> None:
    # detect_local strips "NVIDIA"/"GeForce" from nvidia-smi's name; an unknown name would fall back to
    # an assumed 500 GB/s, 50 TFLOPS device
    from heavylift.hardware.spec import _device

    assert _device(smi_name).key == key
