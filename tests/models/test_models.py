"""Model store and GGUF header reading, on the real default model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli


def test_setup_is_idempotent_and_cached(installed):
    proc = run_cli("setup")
    assert proc.returncode == 0, proc.stderr
    assert "already built" in proc.stderr


def test_info_reads_header_of_default_model(installed):
    proc = run_cli("models", "info", "default", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["architecture"] == "llama"
    assert (info["n_layers"], info["n_heads"], info["n_kv_heads"]) == (30, 9, 3)
    assert info["context_length"] == 8192
    assert info["file_type"] == "Q4_1"
    assert info["tensor_types"]["Q4_1"] == 210
    assert info["has_chat_template"] and info["tokenizer"] == "gpt2" and info["vocab_size"] == 49152
    assert info["n_experts"] is None
    human = run_cli("models", "info", "smollm2-135m-instruct")
    assert "parameters" in human.stdout and "134,515,008" in human.stdout


def test_add_list_rm_reference_and_copy(installed, default_model_path, tmp_path):
    proc = run_cli("models", "add", str(default_model_path), "--name", "smol-ref")
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(run_cli("models", "list", "--json").stdout)
    assert {"smol-ref", "smollm2-135m-instruct"} <= {m["name"] for m in listing}
    assert run_cli("models", "rm", "smol-ref").returncode == 0
    assert default_model_path.exists(), "removing a reference must not delete the user's file"

    local = tmp_path / "mine.gguf"
    shutil.copyfile(default_model_path, local)
    assert run_cli("models", "add", str(local), "--copy").returncode == 0
    stored = next(m for m in json.loads(run_cli("models", "list", "--json").stdout) if m["name"] == "mine")
    assert stored["is_copy"] and Path(stored["path"]).exists() and Path(stored["path"]) != local
    assert run_cli("models", "rm", "mine").returncode == 0
    assert not Path(stored["path"]).exists()


def _write_split(folder: Path) -> Path:
    """A real two-part split GGUF (llama-gguf-split layout: split.* keys, tensors spread)."""
    gguf = pytest.importorskip("gguf")
    for no in range(2):
        w = gguf.GGUFWriter(folder / f"tiny-0000{no + 1}-of-00002.gguf", "llama")
        w.add_uint16("split.no", no)
        w.add_uint16("split.count", 2)
        w.add_int32("split.tensors.count", 2)
        if no == 0:
            w.add_block_count(1)
            w.add_context_length(128)
        w.add_tensor(f"t{no}.weight", np.ones((4, 32), dtype=np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    return folder / "tiny-00001-of-00002.gguf"


def test_split_gguf_is_read_as_one_model(installed, tmp_path):
    first = _write_split(tmp_path)
    proc = run_cli("models", "add", str(first))
    assert proc.returncode == 0, proc.stderr
    info = json.loads(run_cli("models", "info", "tiny", "--json").stdout)
    assert info["n_params"] == 2 * 4 * 32 and len(info["paths"]) == 2
    (tmp_path / "tiny-00002-of-00002.gguf").unlink()
    broken = run_cli("models", "info", str(first))
    assert broken.returncode != 0 and "missing part" in broken.stderr


def _one_line_error(proc, *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("heavylift: error:"), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_bad_model_inputs(installed, default_model_path, tmp_path):
    _one_line_error(run_cli("models", "add", str(tmp_path / "nope.gguf")), "no such file")
    text = tmp_path / "notes.gguf"
    text.write_text("this is not a model")
    _one_line_error(run_cli("models", "add", str(text)), "not a GGUF")
    truncated = tmp_path / "cut.gguf"
    with open(default_model_path, "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read(5_000_000))
    _one_line_error(run_cli("models", "info", str(truncated)), "truncated")
    _one_line_error(run_cli("models", "info", "smollm2-135m-instruc"), "did you mean smollm2-135m-instruct")
    _one_line_error(run_cli("ask", "hi", "--model", "no-such-model"), "unknown model")


def test_concurrent_setups_wait_for_each_other(installed):
    """Two `heavylift setup` at once: the file lock serialises them and both succeed."""
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-m", "heavylift", "setup"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    from heavylift.setup.engine_build import manifest_path

    manifest = json.loads(manifest_path().read_text())
    assert manifest["kind"] == "built" and Path(manifest["bin_dir"], "llama-server").exists()
