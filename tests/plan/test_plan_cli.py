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


def _json(*args: str) -> dict:
    cut = args.index("--") if "--" in args else len(args)  # --json is ours, not llama-server's
    proc = run_cli("plan", *args[:cut], "--json", *args[cut:])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_evaluate_given_flags_against_the_planners_own():
    hw = "1x rtx-4090, 64GB ddr5-6000 2ch"
    mine = _json("qwen3-30b-a3b", "--hw", hw, "--ctx", "32768", "-ngl", "99", "-ot", "exps=CPU")
    assert mine["placement_source"] == "flags" and mine["n_gpu_layers"] == 99 and mine["n_gpu_layers_offloaded"] == 49
    assert mine["tensor_overrides"] == ["exps=CPU"] and "-ot" in mine["llama_server_args"]
    assert any("clamps it to n_layer + 1 = 49" in n for n in mine["placement_notes"])
    assert mine["devices"][-1]["expert_layers_in_ram"] == "0-47"
    best = mine["best_placement"]
    assert best["fits"] and best["n_gpu_layers"] == 49 and best["decode_tps"] > mine["decode_tps"]
    # the same flags pasted as a llama-server command line after `--`
    pasted = _json("qwen3-30b-a3b", "--hw", hw, "--", "-ngl", "99", "-ot", "exps=CPU", "-c", "32768", "-np", "2",
                   "-fa", "on", "-ctk", "q8_0", "-ctv", "q8_0", "--host", "0.0.0.0", "--mlock")
    assert (pasted["ctx"], pasted["n_parallel"], pasted["kv_type"]) == (32768, 2, "q8_0")
    assert pasted["placement_source"] == "flags" and pasted["tensor_overrides"] == ["exps=CPU"]
    assert pasted["depth_tokens"] == 16384  # default: the full context of one sequence
    ordered = _json("qwen3-30b-a3b", "--hw", hw, "-ncmoe", "3", "-ot", "exps=CUDA0", "-cmoe")
    assert ordered["llama_server_args"][-7:-2] == ["--n-cpu-moe", "3", "-ot", "exps=CUDA0", "--cpu-moe"]
    assert ordered["devices"][-1]["expert_layers_in_ram"] == "0-2"  # first match wins: -ot before --cpu-moe
    shallow = _json("qwen3-30b-a3b", "--hw", hw, "--depth", "0", "--", "-ngl", "99", "-c", "32768")
    assert shallow["decode_tps"] == shallow["decode_tps_depth0"] > 0


def test_threads_flag_and_llamacpp_default_threads_on_a_hybrid_cpu():
    """-t after `--` sets the CPU threads; without it llama.cpp's default leaves an x86 hybrid CPU's
    E-cores out (common.cpp common_cpu_get_num_math), an Arm SoC's LITTLE cores in."""
    hw = "0x, 32GB ddr5-5600 2ch, 20 cores, 12 little"
    default = _json("llama-3.2-3b", "--hw", hw, "--depth", "0")
    all20 = _json("llama-3.2-3b", "--hw", hw, "--depth", "0", "--", "-t", "20")
    four = _json("llama-3.2-3b", "--hw", hw, "--depth", "0", "--", "-t", "4")
    assert any("default -t: 8 big + 0 efficiency" in a for a in default["assumptions"])
    assert any("-t 20: 8 big + 12 efficiency" in a for a in all20["assumptions"])
    assert four["prefill_tps"] < default["prefill_tps"] < all20["prefill_tps"]
    arm = _json("llama-3.2-3b", "--hw", "0x, 8GB lpddr5, 8 cores, 4 little, neon", "--depth", "0")
    assert any("default -t: 4 big + 4 efficiency" in a for a in arm["assumptions"])


def test_human_output_for_flags_that_overflow():
    proc = run_cli("plan", "qwen3-235b-a22b", "--hw", "2x rtx-4090, 256GB ddr5-6000 2ch", "--ctx", "32768",
                   "-ngl", "95", "-ts", "1,1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "DOES NOT FIT: GPU0 RTX 4090 over by" in out and "GPU1 RTX 4090 over by" in out
    assert "your flags vs the planner's own placement" in out and "planner's command: llama-server" in out
    assert "--n-cpu-moe" in out.split("planner's command:")[1]


def test_deepseek_suggestions_are_checked():
    """Issue 11: DeepSeek-V3 on 2x RTX 4090 + 192 GB at 65K suggested a q8_0 KV cache that still
    did not fit; now: the highest quantization that fits (planned), and nothing unchecked."""
    hw = "2x rtx-4090, 192GB ddr5-6000 2ch, 24 cores"
    plan = _json("deepseek-v3", "--ctx", "65536", "--hw", hw)
    assert not plan["fits"]
    quant = next(s for s in plan["suggestions"] if s.startswith("quantization "))
    assert ": fits," in quant
    q = quant.split()[1]
    assert q.startswith("IQ")  # with 192 GB only the 1-2 bit IQ types fit (IQ2_M, IQ2_XXS, IQ1_S ...)
    assert _json("deepseek-v3", "--ctx", "65536", "--hw", hw, "--quant", q)["fits"]
    assert not _json("deepseek-v3", "--ctx", "65536", "--hw", hw, "--quant", "Q2_K")["fits"]
    for s in plan["suggestions"]:  # every line either fits or says that nothing in its kind does
        assert ": fits," in s or "none fits" in s or "do not make it fit" in s or "does not make it fit" in s, s
    assert not any("q8_0" in s for s in plan["suggestions"])  # still does not fit: not offered


@pytest.mark.parametrize("args,message", [
    (["-ts", "1,1,1"], "3 entries but --hw has 2 GPU(s)"),
    (["-ot", "exps"], "is not PATTERN=DEVICE"),
    (["-ot", "blk.(=CPU"], "not a valid regular expression"),
    (["-ot", "exps=CUDA2"], "CUDA2 does not exist on a rig with 2 GPU(s)"),
    (["-ngl", "lots"], "give a number of layers"),
    (["--depth", "99999"], "--depth 99,999 is outside 0..32,768"),
    (["--ctx", "8192", "--", "-c", "4096"], "disagree"),
    (["--", "-ctk", "q8_0", "-ctv", "f16"], "differ"),
    (["-ngl", "10", "--", "-ngl", "20"], "given both before and after `--`"),
    (["--compare", "-ngl", "10"], "--compare plans its own placement"),
])
def test_bad_placement_input(args, message):
    assert message in _bad("qwen3-30b-a3b", "--hw", "2x rtx-4090, 64GB", *args)
