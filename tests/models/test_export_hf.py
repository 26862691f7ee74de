"""`models export-hf`: the folder is what Hugging Face loaders expect, and the weights are the GGUF's
(names mapped back, llama.cpp's Q/K permutation undone). The tokenizer and the model loading are
checked for real by vLLM in tests/engines/test_vllm_engine.py (-m vllm)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from tests.conftest import run_cli


def _read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
    return header, base


def _tensor(path, header, base, name):
    meta = header[name]
    a, b = meta["data_offsets"]
    with open(path, "rb") as f:
        f.seek(base + a)
        raw = np.frombuffer(f.read(b - a), dtype="<u2").astype("<u4") << 16  # BF16 -> F32 bits
    return raw.view("<f4").reshape(meta["shape"])


def _permute(w, n_head):
    """convert_hf_to_gguf.py / conversion/llama.py LlamaModel.permute (HF order -> GGUF order)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@pytest.fixture(scope="module")
def exported(installed, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "smol"
    proc = run_cli("models", "export-hf", "default", "--out", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    return out


def test_folder_layout_and_config(exported):
    names = {p.name for p in exported.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "generation_config.json", "special_tokens_map.json"} <= names
    config = json.loads((exported / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"],
            config["num_key_value_heads"], config["vocab_size"]) == (576, 30, 9, 3, 49152)
    assert config["tie_word_embeddings"] is True and config["rope_theta"] == 100000.0
    tok = json.loads((exported / "tokenizer.json").read_text())
    assert tok["model"]["type"] == "BPE" and len(tok["model"]["vocab"]) == 49152
    assert tok["pre_tokenizer"]["pretokenizers"][0] == {"type": "Digits", "individual_digits": True}  # "smollm"
    tcfg = json.loads((exported / "tokenizer_config.json").read_text())
    assert "chat_template" in tcfg and tcfg["eos_token"] == "<|im_end|>"


def test_weights_are_the_ggufs_with_qk_permutation_undone(exported, default_model_path):
    from gguf import GGUFReader
    from gguf.quants import dequantize

    header, base = _read_safetensors(exported / "model.safetensors")
    assert len([k for k in header if k != "__metadata__"]) == 272
    reader = GGUFReader(str(default_model_path))
    gguf = {t.name: t for t in reader.tensors}

    def original(name):
        t = gguf[name]
        return dequantize(t.data, t.tensor_type).reshape(tuple(reversed([int(d) for d in t.shape])))

    path = exported / "model.safetensors"
    for hf_name, gguf_name, n_head in [("model.layers.3.self_attn.q_proj.weight", "blk.3.attn_q.weight", 9),
                                       ("model.layers.3.self_attn.k_proj.weight", "blk.3.attn_k.weight", 3),
                                       ("model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight", None)]:
        hf = _tensor(path, header, base, hf_name)
        back = _permute(hf, n_head) if n_head else hf
        want = original(gguf_name)
        assert back.shape == want.shape
        np.testing.assert_allclose(back, want, rtol=1 / 128, atol=1e-6)  # BF16 keeps 8 bits of mantissa
        if n_head:  # and the permutation really moved rows
            assert not np.allclose(hf, want, rtol=1 / 128, atol=1e-6)


def test_refusals(installed, tmp_path, exported):
    again = run_cli("models", "export-hf", "default", "--out", str(exported))
    assert again.returncode == 2 and "--force" in again.stderr
    stranger = tmp_path / "mine"
    stranger.mkdir()
    proc = run_cli("models", "export-hf", "default", "--out", str(stranger))
    assert proc.returncode == 2 and "not an export of ours" in proc.stderr
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\0" * 64)
    proc = run_cli("models", "export-hf", str(junk), "--out", str(tmp_path / "x"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "heavylift: error:" in proc.stderr
