"""`heavylift plan` as a user runs it: JSON schema, tables, and every listed bad input."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

SCHEMA_KEYS = {"weights_bytes", "kv_cache_bytes", "compute_bytes", "total_bytes", "devices", "fits", "decode_tps",
               "prefill_tps", "ttft_s", "roofline_decode_tps", "llama_server_args", "vllm_args", "file_bytes"}
HW = "2x rtx-5090, 256GB ddr5-6000 2ch"


def test_json_schema_catalog_model():
    proc = run_cli("plan", "qwen3-235b-a22b-2507", "--quant", "Q3_K_M", "--ctx", "262144", "--hw", HW, "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert SCHEMA_KEYS <= plan.keys()
    assert plan["fits"] is True and plan["file_bytes"] > 100e9
    for d in plan["devices"]:
        assert {"name", "capacity_bytes", "used_bytes", "breakdown"} <= d.keys()
        assert d["used_bytes"] == sum(d["breakdown"].values())
    assert isinstance(plan["llama_server_args"], list) and "--n-cpu-moe" in plan["llama_server_args"]
    assert plan["roofline_decode_tps"] > plan["decode_tps"] > 0


def test_human_table_side_by_side_and_compare():
    proc = run_cli("plan", "llama-3.1-70b", "qwen3-235b-a22b-2507", "--hw", HW, "--ctx", "65536")
    assert proc.returncode == 0, proc.stderr
    assert "llama-3.1-70b" in proc.stdout and "decode tok/s" in proc.stdout
    proc = run_cli("plan", "qwen3-30b-a3b", "--compare")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("qwen3-30b-a3b") == 7 and "m3-ultra" in proc.stdout


def test_does_not_fit_says_what_would(tmp_path):
    proc = run_cli("plan", "deepseek-v3", "--ctx", "131072", "--hw", "1x rtx-4090, 64GB ddr5-6000 2ch")
    assert proc.returncode == 0, proc.stderr
    assert "DOES NOT FIT" in proc.stdout and "what would fit instead" in proc.stdout and "more RAM" in proc.stdout


def test_config_json_and_folder(tmp_path):
    from heavylift.models.catalog_data import CATALOG

    (tmp_path / "config.json").write_text(json.dumps(CATALOG["mixtral-8x7b"]["config"]))
    for arg in (str(tmp_path), str(tmp_path / "config.json")):
        proc = run_cli("plan", arg, "--hw", "2x rtx-3090, 64GB", "--json", "--quant", "Q4_K_M")
        assert proc.returncode == 0, proc.stderr
        assert 27e9 < json.loads(proc.stdout)["file_bytes"] < 30e9


def _bad(*args: str) -> str:
    proc = run_cli("plan", *args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]  # argparse prints usage first; the error is one line


def test_bad_inputs(tmp_path):
    assert "did you mean qwen3-235b-a22b" in _bad("qwen3-235b-a2b")
    (tmp_path / "config.json").write_text("{not json")
    assert "not valid JSON" in _bad(str(tmp_path / "config.json"))
    (tmp_path / "x.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    assert "lacks" in _bad(str(tmp_path / "x.json"))
    (tmp_path / "junk.gguf").write_bytes(b"NOPE" + b"\0" * 64)
    assert "not a GGUF" in _bad(str(tmp_path / "junk.gguf"))
    assert "'3x rtx-9999'" in _bad("mixtral-8x7b", "--hw", "3x rtx-9999, 64GB")
    assert "exceeds the model's trained context" in _bad("mixtral-8x7b", "--ctx", "65536", "--hw", HW)
    assert "greater than zero" in _bad("mixtral-8x7b", "--ctx", "0")
    assert "greater than zero" in _bad("mixtral-8x7b", "--parallel", "-2")
    assert "unknown quantization" in _bad("mixtral-8x7b", "--quant", "Q9_Z")


def test_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    one, many = tmp_path / "memory.png", tmp_path / "rigs.png"
    assert run_cli("plan", "qwen3-30b-a3b", "--hw", "1x rtx-4090, 64GB", "--plot", str(one)).returncode == 0
    assert run_cli("plan", "qwen3-30b-a3b", "--compare", "--plot", str(many)).returncode == 0
    for png in (one, many):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("plan", "qwen3-30b-a3b", "--plot", str(tmp_path / "no" / "such" / "dir.png"))
    assert bad.returncode == 2 and "--plot" in bad.stderr and "Traceback" not in bad.stderr


def test_safetensors_index_cross_checks_parameter_count(tmp_path):
    from heavylift.models.catalog_data import CATALOG

    config = {**CATALOG["mixtral-8x7b"]["config"], "torch_dtype": "bfloat16"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    index = tmp_path / "model.safetensors.index.json"
    # Mixtral-8x7B-v0.1's published index: 93,405,585,408 bytes of bf16 weights (46.7 B parameters).
    index.write_text(json.dumps({"metadata": {"total_size": 93_405_585_408}, "weight_map": {}}))
    sources = json.loads(run_cli("plan", str(tmp_path), "--json").stdout)["sources"]
    assert any("model.safetensors.index.json" in s and "agrees" in s for s in sources), sources
    index.write_text(json.dumps({"metadata": {"total_size": 40_000_000_000}, "weight_map": {}}))
    sources = json.loads(run_cli("plan", str(tmp_path), "--json").stdout)["sources"]
    assert any("DISAGREES" in s for s in sources), sources
