"""`heavylift quantize` on the real llama-quantize / llama-imatrix / converter, with the default model
(a GGUF: requantized) and a tiny random-weight Hugging Face folder (converted). Outputs go to
tmp folders (the model cache is shared by everyone using this machine)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from heavylift.models.gguf_file import GGUFFile
from tests.cli_errors import one_line_error
from tests.conftest import REPO, run_cli
from tests.models.hf_folder import write_hf_llama


def stored(name: str) -> dict | None:
    proc = run_cli("models", "list", "--json")
    return next((m for m in json.loads(proc.stdout) if m["name"] == name), None)


def test_unknown_type_lists_the_valid_ones() -> None:
    err = one_line_error(run_cli("quantize", "default", "--to", "Q4_K_M,Q3_K_XL"))
    assert "Q3_K_XL" in err and "Q4_K_M" in err and "Q2_K" in err and "IQ2_XXS" in err


def test_lowest_iq_types_need_an_imatrix(installed) -> None:
    err = one_line_error(run_cli("quantize", "default", "--to", "IQ2_XXS"))
    assert "importance matrix" in err and "--imatrix" in err


def test_folder_without_config_or_with_an_unknown_architecture(installed, tmp_path: Path) -> None:
    err = one_line_error(run_cli("quantize", str(tmp_path), "--to", "Q8_0", "--out", str(tmp_path / "out")), 1)
    assert "no config.json" in err
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["FancyNewForCausalLM"]}))
    err = one_line_error(run_cli("quantize", str(tmp_path), "--to", "Q8_0", "--out", str(tmp_path / "out")), 1)
    assert "'FancyNewForCausalLM'" in err and "not supported by llama.cpp's converter" in err
    assert not (tmp_path / "out").exists()


def test_not_enough_disk(installed, tmp_path: Path) -> None:
    # A real small filesystem when we may mount one (root on Linux), and the --keep-free floor in any case.
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(small)],
                             capture_output=True).returncode == 0
    try:
        if mounted:
            err = one_line_error(run_cli("quantize", "default", "--to", "Q8_0", "--out", str(small), "--keep-free", "0.001"))
            assert "not enough disk" in err and "Q8_0 138.10 MiB" in err and "--out" in err
            assert list(small.iterdir()) == []
    finally:
        if mounted:
            subprocess.run(["umount", str(small)], check=False)
    err = one_line_error(run_cli("quantize", "default", "--to", "Q8_0", "--out", str(tmp_path), "--keep-free", "1e9"))
    assert "not enough disk" in err and "(--keep-free)" in err


def test_requantize_a_gguf(installed, tmp_path: Path) -> None:
    proc = run_cli("quantize", "default", "--to", "Q8_0", "--out", str(tmp_path), "--name", "t-q8", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    [out] = json.loads(proc.stdout)
    assert out["name"] == "t-q8" and out["ftype"] == "Q8_0" and out["is_requantized"]
    assert "requantizing loses more quality" in proc.stderr and "--allow-requantize" in proc.stderr
    path = Path(out["path"])
    assert path == tmp_path / "t-q8.gguf" and GGUFFile.read(path).get("general.file_type") == 7  # LLAMA_FTYPE_MOSTLY_Q8_0
    assert out["file_bytes"] == path.stat().st_size == out["predicted_bytes"]  # the planner's size, to the byte
    assert stored("t-q8")["path"] == str(path)
    assert not list(tmp_path.glob("*.partial"))
    again = run_cli("quantize", "default", "--to", "Q8_0", "--out", str(tmp_path), "--name", "t-q8")
    assert again.returncode == 0 and "already built" in again.stderr
    clash = one_line_error(run_cli("quantize", "default", "--to", "Q4_0", "--name", "t-q8", "--out", str(tmp_path)))
    assert "already exists" in clash
    assert "is already Q4_1" in one_line_error(run_cli("quantize", "default", "--to", "Q4_1", "--out", str(tmp_path)))


def test_interrupted_run_leaves_nothing_registered(installed, tmp_path: Path) -> None:
    with open(tmp_path / "err.txt", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "heavylift", "quantize", "default", "--to", "Q4_K_M",
                                 "--out", str(tmp_path), "--name", "t-cut"], stderr=err, env=os.environ.copy())
    partial = tmp_path / "t-cut.gguf.partial"
    deadline = time.monotonic() + 120
    while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if proc.poll() is not None:
        pytest.skip("llama-quantize finished before it could be interrupted")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130, (tmp_path / "err.txt").read_text()[-2000:]
    assert not partial.exists() and not (tmp_path / "t-cut.gguf").exists()
    assert stored("t-cut") is None
    # the tool's whole process group went with it
    assert not any(str(partial) in line for line in subprocess.run(["ps", "-eo", "args"], capture_output=True,
                                                                    text=True).stdout.splitlines())


def _sample_text(path: Path) -> Path:
    from heavylift.analyze.ingest import ingest_paths

    docs, _ = ingest_paths([REPO / "samples" / "documents"])
    path.write_text("\n\n".join(d.text for d in docs))
    return path


def test_imatrix_makes_the_lowest_types_possible(installed, tmp_path: Path) -> None:
    text = _sample_text(tmp_path / "text.txt")
    text.write_text(f"Run {time.time_ns()}.\n" + text.read_text())  # computed by this run (the cache is by content)
    proc = run_cli("quantize", "default", "--to", "IQ2_XS", "--imatrix", str(text), "--out", str(tmp_path),
                   "--name", "t-iq2", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "importance matrix computed" in proc.stderr and "--imatrix" in proc.stderr
    assert GGUFFile.read(tmp_path / "t-iq2.gguf").tensor_type_counts().get("IQ2_XS", 0) > 0
    again = run_cli("quantize", "default", "--to", "Q4_0", "--imatrix", str(text), "--out", str(tmp_path / "b"),
                    "--name", "t-iq2b", timeout=900)  # the matrix depends on the source and the text only
    assert again.returncode == 0 and "reusing the importance matrix" in again.stderr
    reused = again.stderr.split("reusing the importance matrix ")[1].split()[0]
    Path(reused).unlink()  # keyed by this run's text: nothing later can reuse it
    short = tmp_path / "short.txt"
    short.write_text("Too short to learn anything from.")
    err = one_line_error(run_cli("quantize", "default", "--to", "Q4_0", "--imatrix", str(short), "--out",
                                 str(tmp_path / "c"), "--name", "t-iq2c", timeout=900))
    assert "too short" in err and "1024 tokens" in err


def test_convert_extra_matches_the_converter_requirements() -> None:
    from heavylift.models.hf_convert import CONVERT_REQUIREMENTS

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["convert"] == CONVERT_REQUIREMENTS


@pytest.mark.convert
def test_hugging_face_folder(installed, default_model_path: Path, tmp_path: Path) -> None:
    """Installs torch + transformers into this environment on first use (as a user's first run would)."""
    folder = write_hf_llama(tmp_path / "tiny-llama", default_model_path)
    out = tmp_path / "out"
    proc = run_cli("quantize", str(folder), "--to", "Q8_0,Q4_K_M", "--out", str(out), "--json", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = json.loads(proc.stdout)
    assert [o["name"] for o in outputs] == ["tiny-llama-q8_0", "tiny-llama-q4_k_m"]
    assert not any(o["is_requantized"] for o in outputs) and "requantizing" not in proc.stderr
    for o in outputs:
        gguf = GGUFFile.read(o["path"])
        assert gguf.architecture == "llama" and gguf.get("tokenizer.ggml.pre") == "smollm"
        # a folder's header is estimated (plan/tensor_table), its tensors predicted exactly
        assert abs(o["file_bytes"] - o["predicted_bytes"]) / o["file_bytes"] < 0.02
        assert stored(o["name"])["path"] == o["path"]
    assert sorted(p.name for p in out.iterdir()) == ["tiny-llama-q4_k_m.gguf", "tiny-llama-q8_0.gguf"]  # bf16 removed
    # the results load and run: the token-level comparison of the two (same vocabulary, real engine)
    text = _sample_text(tmp_path / "text.txt")
    kld = run_cli("verify", "--candidate", outputs[1]["path"], "--reference", outputs[0]["path"], "--kld", str(text),
                  "--kld-chunks", "2", "--json", "--name", "t-hf-kld", timeout=600)
    assert kld.returncode == 0, kld.stderr[-3000:]
    report = json.loads(kld.stdout)
    assert report["kld_mean"] >= 0 and 0 <= report["top1_agreement"] <= 1
    Path(report["kld"]["logits_path"]).unlink()  # keyed by this tmp file: no later run can reuse it
    Path(report["kld"]["logits_path"]).with_suffix(".json").unlink()
