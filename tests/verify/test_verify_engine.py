"""`heavylift verify` with the real engine: the quants of the default model ordered by KLD (the cheap
ordering check of the default run), a reference endpoint (a second local llama-server behind the
same HTTP interface, with an API key) that is down and then comes back, and the bad inputs."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from heavylift import paths
from heavylift.verify.kld import logits_bytes
from tests.cli_errors import one_line_error
from tests.conftest import REPO, run_cli
from tests.proc_utils import ServeProcess

TYPES = ["Q8_0", "Q4_K_M", "Q3_K_M", "Q2_K"]  # from the most bits to the fewest
DOCS = REPO / "samples" / "documents"


@pytest.fixture(scope="module")
def quants(installed, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The default model (Q4_1) requantized to each type, in a private folder: type -> GGUF path."""
    out = tmp_path_factory.mktemp("quants")
    proc = run_cli("quantize", "default", "--to", ",".join(TYPES), "--out", str(out), "--name", "vq", "--json",
                   timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {o["ftype"]: o["path"] for o in json.loads(proc.stdout)}


@pytest.fixture(scope="module")
def kld_text(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The sample documents' text, with a line of its own so this session computes its reference log-probs
    (they are cached by content in the shared cache); they are deleted afterwards."""
    from heavylift.analyze.ingest import ingest_paths

    docs, _ = ingest_paths([DOCS])
    path = tmp_path_factory.mktemp("text") / "samples.txt"
    path.write_text(f"Test session {uuid.uuid4()}.\n\n" + "\n\n".join(d.text for d in docs))
    yield path
    for base in (paths.cache_dir() / "kld").glob("*.json"):
        if json.loads(base.read_text()).get("text") == str(path.resolve()):
            base.with_suffix(".logits").unlink(missing_ok=True)
            base.unlink()


def test_kld_orders_the_quants(quants: dict[str, str], kld_text: Path) -> None:
    reports = {}
    for ftype in TYPES:
        proc = run_cli("verify", "--candidate", quants[ftype], "--reference", "default", "--kld", str(kld_text),
                       "--kld-chunks", "2", "--json", "--name", f"kld-{ftype}", timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        reports[ftype] = json.loads(proc.stdout)
        if ftype == TYPES[0]:
            assert "writing 2 chunks of reference log-probs: 47.82 MiB" in proc.stderr
        else:
            assert "reusing the reference log-probs" in proc.stderr  # computed once for all candidates
    k = {t: reports[t]["kld"] for t in TYPES}
    # the saved file is exactly as large as perplexity.cpp's format says (n_vocab 49152, 2 chunks of 512)
    assert Path(k["Q8_0"]["logits_path"]).stat().st_size == logits_bytes(49152, 512, 2) == 50_143_236
    assert k["Q8_0"]["num_tokens_scored"] == 2 * 255
    means = [reports[t]["kld_mean"] for t in TYPES]
    assert means == sorted(means) and len(set(means)) == len(means), means  # fewer bits, larger KLD
    p99s = [reports[t]["kld_p99"] for t in TYPES]
    assert p99s == sorted(p99s), p99s
    top1 = [reports[t]["top1_agreement"] for t in TYPES]
    assert top1 == sorted(top1, reverse=True), top1
    ratios = [reports[t]["ppl_ratio"] for t in TYPES]
    assert ratios == sorted(ratios) and ratios[0] >= 0.99, ratios
    assert reports["Q8_0"]["kld_mean"] < 0.02 and reports["Q8_0"]["top1_agreement"] > 0.9
    assert reports["Q8_0"]["agreement"] is None and reports["Q8_0"]["tasks"] == []  # no tasks: no verdict


def test_different_vocabularies_are_refused(installed, tmp_path: Path, kld_text: Path) -> None:
    from tests.plan.tiny_gguf import TinyShape, write_tiny_llama

    tiny = write_tiny_llama(tmp_path / "tiny.gguf", TinyShape(n_vocab=1024, n_layer=1, n_embd=64, n_ff=128,
                                                               n_head=2, n_head_kv=1))
    err = one_line_error(run_cli("verify", "--candidate", str(tiny), "--reference", "default", "--kld", str(kld_text),
                                 "--name", "vocab"))
    assert "same vocabulary" in err and "tokenizer llama vs gpt2" in err and "1024 vs 49152 tokens" in err


def test_kld_needs_local_reference_weights(installed, tmp_path: Path, kld_text: Path) -> None:
    err = one_line_error(run_cli("verify", "--candidate", "default", "--reference-endpoint", "http://127.0.0.1:9",
                                 "--kld", str(kld_text)))
    assert "--kld-reference" in err
    # a reference bigger than this machine's memory: a real GGUF made sparse-long (1 TiB)
    from tests.plan.tiny_gguf import TinyShape, write_tiny_llama

    huge = write_tiny_llama(tmp_path / "huge.gguf", TinyShape(n_vocab=512, n_layer=1, n_embd=64, n_ff=128, n_head=2,
                                                               n_head_kv=1))
    os.truncate(huge, 1 << 40)
    err = one_line_error(run_cli("verify", "--candidate", "default", "--reference", str(huge), "--kld", str(kld_text)))
    assert "too big to run here" in err and "--kld-reference" in err


def test_reference_endpoint_down_then_back(quants: dict[str, str], tmp_path: Path) -> None:
    from heavylift.engines.llama_server import free_port

    port = free_port()
    env = {"HEAVYLIFT_REFERENCE_API_KEY": "s3cret-ref-key", "OPENAI_API_KEY": ""}
    args = ["verify", "--candidate", quants["Q8_0"], "--reference-endpoint", f"http://127.0.0.1:{port}/v1",
            "--docs", str(DOCS / "services_agreement.md"), str(DOCS / "lease.html"),
            "--ask", "What law governs this document?", "--max-tokens", "12", "--endpoint-wait", "1",
            "--name", "ep", "--json"]
    down = run_cli(*args, env=env, timeout=900)
    err = one_line_error(down, 1)
    assert "reference job ep-reference interrupted" in err and "heavylift verify --resume ep" in err
    assert "s3cret" not in down.stderr
    server = ServeProcess("default", "--port", str(port), "--api-key", "s3cret-ref-key", "--ctx", "8192")
    try:
        back = run_cli("verify", "--resume", "ep", "--json", env=env, timeout=900)
        assert back.returncode == 0, back.stderr[-3000:]
        assert "candidate: job ep-candidate is done (2 answers" in back.stderr  # not computed again
        report = json.loads(back.stdout)
        assert report["reference"] == f"http://127.0.0.1:{port}/v1" and report["num_documents"] == 2
        assert report["verdict"] in ("safe", "borderline", "try-larger") and 0 <= report["agreement"] <= 1
        [task] = report["tasks"]
        assert task["num_compared"] == 2 and task["token_f1"] is not None and task["rouge_l"] is not None
        # a wrong key: a setup problem, said as such, not a 0% agreement
        bad = run_cli(*[a if a != "ep" else "ep-bad" for a in args], env={**env, "HEAVYLIFT_REFERENCE_API_KEY": "nope"},
                      timeout=900)
        assert "check HEAVYLIFT_REFERENCE_API_KEY" in one_line_error(bad, 1)
    finally:
        server.stop()


def test_names_resume_and_refuse_other_inputs(installed, kld_text: Path) -> None:
    args = ["verify", "--candidate", "default", "--reference", "default", "--kld", str(kld_text), "--kld-chunks", "2",
            "--name", "same", "--json"]
    first = run_cli(*args, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    assert json.loads(first.stdout)["kld_mean"] < 1e-4  # a model against itself
    again = run_cli(*args, timeout=900)
    assert again.returncode == 0 and "same inputs; resuming" in again.stderr and "KLD already computed" in again.stderr
    assert json.loads(again.stdout)["kld"] == json.loads(first.stdout)["kld"]
    other = one_line_error(run_cli(*[a if a != "2" else "3" for a in args]))
    assert "exists with other inputs" in other
    assert "no verify run named 'nope'" in one_line_error(run_cli("verify", "--resume", "nope"))
    assert "--reference MODEL or --reference-endpoint URL" in one_line_error(run_cli("verify", "--candidate", "default",
                                                                                      "--kld", str(kld_text)))
