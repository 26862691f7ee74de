"""The model catalog, fast (no engine): every entry builds, its parameter count agrees with the
figure its maker published, its source says what was and was not verified, and the tensor tables
carry the converter's types and MTP blocks the way the planner needs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from heavylift.errors import ModelError, UsageError
from heavylift.models import catalog
from heavylift.models.catalog_data import ALIASES, CATALOG
from heavylift.plan.model_source import catalog_rows, params, resolve
from heavylift.plan.quant_rules import (
    SUPPORTED_FTYPES,
    check_ftype,
    needs_imatrix,
    quantized_tensors,
    requires_imatrix,
)
from heavylift.plan.tensor_table import loaded, tensor_table

NAMES = catalog.names()


@pytest.mark.parametrize("name", NAMES)
def test_entry_matches_published_parameter_count(name):
    """Total parameters from our tensor table against the maker's published total (2%, or the
    rounding of the published figure), and the active count within reason (vendors differ on
    whether embeddings count)."""
    e = catalog.entry(name)
    assert e.reference, f"{name}: no published parameter count to check against"
    arch = catalog.lookup(name)
    table = tensor_table(arch)
    counted = table if e.reference.counts == "file" else loaded(arch, table)
    total, active = params(arch, counted)
    ok, off = e.reference.check(total)
    assert ok, f"{name}: {total / 1e9:.2f}B vs published {e.reference.total} ({off:+.1%}) at {e.reference.url}"
    if e.reference.active:
        published = catalog.published_billions(e.reference.active)[0]
        assert abs(active / 1e9 - published) / published < 0.25, (name, active / 1e9, e.reference.active)


MEASURED = [n for n in NAMES if catalog.entry(n).gguf_params]


@pytest.mark.parametrize("name", MEASURED)
def test_entry_matches_llama_cpp_count_of_a_real_gguf(name):
    """llama-bench prints llama.cpp's own parameter count of the file it ran (every tensor in the
    file, to 0.01 B): the tensor table must give the same number for a file with (counts="file")
    or without (counts="loaded") the MTP block."""
    e, arch = catalog.entry(name), catalog.lookup(name)
    table = tensor_table(arch)
    total, _ = params(arch, table if e.gguf_params.counts == "file" else loaded(arch, table))
    ok, off = e.gguf_params.check(total, tolerance=0.0)
    assert ok, f"{name}: {total / 1e9:.2f}B vs llama-bench's {e.gguf_params.total} at {e.gguf_params.url}"


def test_most_of_the_catalog_is_checked_against_real_ggufs():
    assert len(MEASURED) >= 25, MEASURED


@pytest.mark.parametrize("name", NAMES)
def test_entry_source_is_cited_and_says_what_is_unverified(name):
    e = catalog.entry(name)
    assert "https://" in e.source or "github.com/" in e.source, e.source
    assert e.reference.url.startswith("https://")
    # "unverified: <keys>" in the entry's own source, exactly when something was not read
    assert ("unverified: " in e.source) == bool(e.unverified), e.source
    for key in e.unverified:
        assert key in e.config, f"{name}: unverified key {key!r} is not in its config"


def test_qwen3_235b_release_and_2507_update_are_two_entries():
    original, update = catalog.lookup("qwen3-235b-a22b"), catalog.lookup("qwen3-235b-a22b-2507")
    assert original.n_ctx_train == 40960 and update.n_ctx_train == 262144
    assert catalog.canonical("qwen3-235b") == "qwen3-235b-a22b"
    assert catalog.canonical("Qwen3-235B-A22B-Instruct-2507") == "qwen3-235b-a22b-2507"
    with pytest.raises(UsageError, match="trained context 40,960"):
        from heavylift.hardware.spec import parse_spec
        from heavylift.plan.memory import ContextConfig
        from heavylift.plan.planner import make_plan

        make_plan(resolve("qwen3-235b-a22b", "Q4_K_M"), parse_spec("1x rtx-5090, 256GB"), ContextConfig(262144))


def test_docs_list_every_entry():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text()
    missing = [n for n in NAMES if f"| `{n}` |" not in doc]
    assert not missing, f"docs/catalog.md lacks {missing}"


def test_aliases_point_at_entries_and_unknown_names_say_the_closest():
    for alias, key in ALIASES.items():
        assert key in CATALOG, alias
        assert alias not in CATALOG, f"{alias} is both an alias and a key"
    with pytest.raises(ModelError, match="did you mean.*glm-4.5"):
        catalog.lookup("glm-4.55")


def test_converter_types_router_and_norms_are_f32():
    """convert_hf_to_gguf.py writes the router (ffn_gate_inp), norms, biases, expert score biases,
    sinks, ssm_a / ssm_conv1d and the DSA indexer projection in F32 (conversion/base.py
    prepare_tensors); llama-quantize leaves all of them so except indexer.proj, which it quantizes
    (tensor_allows_quantization excludes it for glm5-next only)."""
    for name in ("qwen3-235b-a22b", "deepseek-v3.2", "gpt-oss-120b", "qwen3.5-397b-a17b", "glm-4.5"):
        arch = catalog.lookup(name)
        table = tensor_table(arch)
        forced = [t for t in table if t.name.endswith(("ffn_gate_inp.weight", "_norm.weight", ".bias", "ssm_a",
                                                       "attn_sinks.weight", "ssm_conv1d.weight", "indexer.proj.weight"))]
        assert forced and all(t.ggml_type.name == "F32" for t in forced), name
        released = arch.expert_source_type  # gpt-oss: MXFP4 experts as released, kept by the converter
        assert all(t.ggml_type.name == (released if released and "_exps.weight" in t.name else "BF16") for t in table
                   if t not in forced and len(t.shape) > 1 and not t.name.endswith("ffn_gate_inp_shexp.weight")), name
        quantized = {t.name: t.ggml_type.name for t in quantized_tensors(arch, table, "Q4_K_M")}
        kept = [t.name for t in forced if not t.name.endswith("indexer.proj.weight")]
        assert all(quantized[n] == "F32" for n in kept), name
    assert any("ffn_gate_inp.weight" in t.name and t.ggml_type.name == "F32"
               for t in tensor_table(catalog.lookup("qwen3-30b-a3b")))


def test_mtp_blocks_count_in_the_file_not_in_memory():
    src = resolve("glm-4.5", "Q4_K_M")
    assert src.arch.n_layer == 92 and src.arch.n_layer_nextn == 1
    assert all(t.layer < 92 for t in src.tensors)
    full = quantized_tensors(src.arch, tensor_table(src.arch), "Q4_K_M")
    mtp = sum(t.n_bytes for t in full if t.layer == 92)
    assert mtp > 2e9  # the MoE block: 160 experts of 3 x 5120 x 1536
    assert src.file_bytes > sum(t.n_bytes for t in src.tensors) + mtp
    assert any(n.startswith("MTP:") for n in src.notes)
    assert catalog.lookup("deepseek-v3").n_layer_nextn == 0  # DeepseekV2Model.skip_mtp


def test_dsa_kv_cache_holds_the_indexer_key():
    """DeepSeek-V3.2 in llama.cpp: MLA latent (512 + 64) plus the indexer key (128) per token and layer."""
    v32, v3 = catalog.lookup("deepseek-v3.2"), catalog.lookup("deepseek-v3")
    assert v3.n_embd_k_gqa(0) == 576 and v32.n_embd_k_gqa(0) == 576 + 128
    assert v32.n_embd_v_gqa(0) == 0


def test_quant_names_as_llama_quantize_has_them():
    for name in ("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
                 "IQ4_XS", "IQ4_NL", "MXFP4_MOE"):
        assert check_ftype(name.lower()) == name and name in SUPPORTED_FTYPES
    assert check_ftype("MXFP4") == "MXFP4_MOE" and check_ftype("q4_k") == "Q4_K_M"
    with pytest.raises(UsageError, match="unknown quantization 'IQ5_XS'.*IQ4_XS"):
        check_ftype("IQ5_XS")
    assert needs_imatrix("IQ2_XXS") and needs_imatrix("IQ3_XS") and not needs_imatrix("IQ4_XS")
    arch = catalog.lookup("qwen3-30b-a3b")
    table = tensor_table(arch)
    assert requires_imatrix(quantized_tensors(arch, table, "IQ2_M"), "IQ2_M")
    assert not requires_imatrix(quantized_tensors(arch, table, "IQ3_S"), "IQ3_S")


def test_mxfp4_puts_experts_in_mxfp4_and_the_rest_in_q8_0():
    arch = catalog.lookup("gpt-oss-20b")
    types = {t.name: t.ggml_type.name for t in quantized_tensors(arch, tensor_table(arch), "MXFP4")}
    assert types["blk.0.ffn_up_exps.weight"] == "MXFP4"
    assert types["blk.0.attn_q.weight"] == "Q8_0" and types["output.weight"] == "Q8_0"


def test_plan_refuses_an_architecture_llama_cpp_cannot_run(monkeypatch, capsys):
    monkeypatch.setitem(CATALOG, "future-moe", {**CATALOG["qwen3-30b-a3b"],
                                                "unsupported": "llama.cpp 0c1e570 has no loader for this architecture"})
    with pytest.raises(ModelError, match="no loader"):
        resolve("future-moe", None)
    from heavylift.cli import main

    assert main(["plan", "future-moe"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no loader" in err[0] and "Traceback" not in err[0]


def test_list_shows_params_context_and_verification(tmp_path):
    out = subprocess.run([sys.executable, "-m", "heavylift", "plan", "--list"], capture_output=True, text=True,
                         timeout=120, env={**__import__("os").environ, "HEAVYLIFT_DATA_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert "235.09" in lines["qwen3-235b-a22b"] and "40,960" in lines["qwen3-235b-a22b"]
    assert "262,144" in lines["qwen3-235b-a22b-2507"]
    assert "verified" in lines["deepseek-v3"] and "unverified" in lines["minimax-m2"]
    js = subprocess.run([sys.executable, "-m", "heavylift", "plan", "--list", "--json"], capture_output=True,
                        text=True, timeout=120, env={**__import__("os").environ, "HEAVYLIFT_DATA_DIR": str(tmp_path)})
    rows = json.loads(js.stdout)
    assert {r["name"] for r in rows} == set(NAMES) == {r.name for r in catalog_rows()}


def test_nested_hugging_face_configs_read_their_text_config():
    """Multimodal repositories nest the language model under text_config (Llama 4, Gemma 3, Qwen3.5,
    Kimi K2.5): the planner reads it the way convert_hf_to_gguf.py does."""
    from heavylift.models.model_arch import ModelArch

    scout = {**CATALOG["llama-4-scout"]["config"]}
    llama4 = ModelArch.from_hf_config({"model_type": "llama4", "text_config": scout, "vision_config": {}})
    assert llama4.arch == "llama4" and llama4.n_expert == 16 and llama4.has_rope_freqs
    gemma = ModelArch.from_hf_config({"model_type": "gemma3", "text_config": {
        "model_type": "gemma3_text", "hidden_size": 5376, "intermediate_size": 21504, "num_hidden_layers": 62,
        "num_attention_heads": 32, "num_key_value_heads": 16, "head_dim": 128, "sliding_window": 1024}})
    assert (gemma.n_vocab, gemma.n_ctx_train, gemma.tied_embeddings) == (262144, 131072, True)
    assert sum(gemma.swa_layers) == 52  # 5 of every 6 of 62 layers
    kimi = ModelArch.from_hf_config({"model_type": "kimi_k25", "text_config": CATALOG["kimi-k2"]["config"]})
    assert kimi.arch == "deepseek2" and kimi.n_expert == 384
    qwen = ModelArch.from_hf_config({"model_type": "qwen3_5_moe", "text_config": {
        **CATALOG["qwen3.5-122b-a10b"]["config"], "model_type": "qwen3_5_moe_text"}})
    assert qwen.arch == "qwen35moe" and sum(qwen.recurrent_layers) == 36 and qwen.n_layer_nextn == 1


def test_unsupported_config_says_so_in_one_line():
    from heavylift.models.model_arch import ModelArch

    with pytest.raises(ModelError, match="model_type 'gemma4' is not supported by the planner.*GGUF"):
        ModelArch.from_hf_config({"model_type": "gemma4", "hidden_size": 1})
    with pytest.raises(ModelError, match="experts per token"):
        ModelArch.from_hf_config({**CATALOG["qwen3-30b-a3b"]["config"], "num_experts_per_tok": 0})


def test_file_types_ranked_by_predicted_size():
    from heavylift.plan.quant_rules import ftypes_by_size

    arch = catalog.lookup("llama-3.1-8b")
    ranked = ftypes_by_size(arch, tensor_table(arch))
    sizes = [b for _, b in ranked]
    assert sizes == sorted(sizes, reverse=True) and {f for f, _ in ranked} == set(SUPPORTED_FTYPES)
    position = {f: i for i, (f, _) in enumerate(ranked)}
    # a dense model has no expert tensors: MXFP4_MOE is Q8_0 everywhere, as large as Q8_0
    assert dict(ranked)["MXFP4_MOE"] == dict(ranked)["Q8_0"] and position["IQ1_S"] == len(ranked) - 1


# measurement-set models whose architecture the config path does not build (docs/catalog.md,
# "Not in the catalog"): plan them from a GGUF
NOT_IN_CATALOG = {"dots.llm1", "gemma-4-26b-a4b", "gemma-4-31b", "glm-4-32b", "hunyuan-a13b",
                  "smollm2-135m-4x-top2-upcycle"}  # our GPU check's 4-expert fixture (models upcycle): a GGUF of ours


def test_public_measurement_models_resolve_to_entries_of_their_architecture():
    """Every model of the public measurement set (plan/data/public_measurements.csv) is a catalog
    name or alias, but the few listed above; its rows' llama-bench architecture, MoE flag and
    printed parameter count agree with the entry (the count with or without MTP blocks: files differ)."""
    import csv
    from pathlib import Path

    import heavylift.plan

    path = Path(heavylift.plan.__file__).parent / "data" / "public_measurements.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    keys = {r["model_key"] for r in rows}
    archs = {catalog.lookup(n).arch for n in NAMES}
    assert {k for k in keys if catalog.canonical(k) is None} == NOT_IN_CATALOG
    for r in rows:
        name = catalog.canonical(r["model_key"])
        if name is None:
            continue
        arch = catalog.lookup(name)
        table = tensor_table(arch)
        counts = {round(params(arch, t)[0] / 1e9, 2) for t in (table, loaded(arch, table))}
        where = f"{r['id']} ({r['model']}) vs {name}"
        assert r["is_moe"] == ("1" if arch.n_expert else "0"), where
        if r["params_b"]:
            assert float(r["params_b"]) in counts, f"{where}: {r['params_b']}B not in {sorted(counts)}"
        reported = r["model"].split()[0]  # llama-bench's "qwen3moe 30B.A3B Q4_K - Medium"; other tools print file names
        if reported in archs:
            assert reported == arch.arch, where


@pytest.mark.parametrize("name, ftype, gb", [("gpt-oss-120b", "MXFP4_MOE", 63.38), ("gpt-oss-120b", "Q8_0", 63.38),
                                             ("gpt-oss-120b", "Q4_K_M", 62.76), ("gpt-oss-20b", "MXFP4_MOE", 12.10),
                                             ("gpt-oss-20b", "Q4_K_M", 11.62)])
def test_experts_released_in_mxfp4_stay_mxfp4_in_every_file_type(name: str, ftype: str, gb: float):
    """gpt-oss's config.json says quant_method "mxfp4": convert_hf_to_gguf.py writes the experts as MXFP4
    (conversion/gpt_oss.py repack_mxfp4) and llama-quantize does not requantize them, so the file type
    sets only the other tensors. Published: the Q8_0 120B is 63.4 GB like the MXFP4 one, the 20B 12.1 GB
    (AlexsJones/llmfit PR #1059, from the released GGUFs)."""
    from heavylift.plan.quant_rules import data_bytes

    arch = catalog.lookup(name)
    tensors = quantized_tensors(arch, tensor_table(arch), ftype)
    assert all(t.ggml_type.name == "MXFP4" for t in tensors if "_exps.weight" in t.name)
    assert data_bytes(tensors) / 1e9 == pytest.approx(gb, abs=0.6)
