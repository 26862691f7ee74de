"""Issue 11 / issue 10 items that need the real engine: the trained-context cap and its advice, a cut
extraction, the timeout, `ask` beside a running (keyed) serve, resume with a new context, and a KV
cache that tells the truth on a plain, a hybrid (qwen35moe) and a sliding-window (gpt-oss) model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heavylift.engines.llama_server import free_port
from tests.proc_utils import ServeProcess

from .jobutils import attempts_by_unit, cli, results, store, write_docs


def lease(path: Path, clauses: int, seed: int = 0) -> Path:
    """A lease-like document of about 17 tokens per clause (SmolLM2's tokenizer)."""
    lines = [f"Clause {i}. The tenant shall pay {100 + (i * 7 + seed) % 900} euros for item {i} by day {1 + i % 28}."
             for i in range(1, clauses + 1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"Residential lease {seed} between Ann Landlord and Bob Tenant.\n" + "\n".join(lines) + "\n")
    return path


def test_context_capped_at_the_trained_context_with_advice_that_can_work(installed, tmp_path: Path) -> None:
    """SmolLM2 was trained on 8192 tokens: --ctx 9000 cannot give a slot more, so say so and never
    advise raising --ctx for a document that needs more than the model can take."""
    big = lease(tmp_path / "big.txt", 560)
    proc = cli("analyze", str(big), "--ask", "Who is the tenant?", "--ctx", "9000", "--max-tokens", "8", "--name", "cap")
    assert proc.returncode == 0, proc.stderr[-2000:]
    err = proc.stderr
    cap_note = err.index("9000 tokens per slot is more than default was trained on (8192)")
    assert cap_note < err.index("analyze: starting ") and "-c 8192 -np 1" in err
    assert "1 slot(s) of 8192 tokens" in err
    [row] = results("cap")
    assert row["status"] == "failed" and "too long for the context" in row["error"]
    assert "--ctx" not in row["error"] and "--split" in row["error"] and "trained on 8192 tokens" in row["error"]

    asked = cli("ask", "Who is the tenant?", "--file", str(big), "--ctx", "9000", "--max-tokens", "8")
    assert asked.returncode == 2 and "Traceback" not in asked.stderr
    assert "llama-server caps the slot there, so the engine gets 8192" in asked.stderr
    assert "trained on 8192 tokens, so more context cannot help" in asked.stderr and "--ctx 8" not in asked.stderr


def test_extraction_cut_at_max_tokens_is_said_and_not_retried(installed, tmp_path: Path) -> None:
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"supplier": {"type": "string"}},
                                  "required": ["supplier"]}))
    docs = write_docs(tmp_path / "docs", 1)
    proc = cli("analyze", *map(str, docs), "--task", "extract", "--schema", str(schema), "--max-tokens", "3",
               "--name", "cut")
    assert proc.returncode == 0, proc.stderr[-2000:]
    [row] = results("cut")
    assert row["status"] == "failed" and row["attempts"] == 1 and row["finish_reason"] == "length"
    assert "cut off at the --max-tokens limit of 3" in row["error"] and "not valid JSON" not in row["error"]
    assert row["prompt_tokens"] > 0 and row["raw_text"]
    summary = next(ln for ln in proc.stderr.splitlines() if ln.startswith("analyze: job cut done"))
    assert " of 0 prompt tokens" not in summary  # the request's tokens are counted
    # the default timeout, sized from the plan and said
    assert "timeout 600 s (the larger of 600 s and 3x the plan's predicted" in proc.stderr


def test_timeout_is_said_with_how_to_raise_it(installed, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", 1)
    proc = cli("analyze", *map(str, docs), "--ask", "Who is the supplier?", "--timeout", "0.001",
               "--max-tokens", "64", "--name", "slow")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "timeout 0.001 s (--timeout)" in proc.stderr
    [row] = results("slow")
    assert row["status"] == "failed" and row["attempts"] == 1  # a slow engine is not retried into the same wall
    assert "no answer within the timeout of 0.001 s; if the model is just slow, raise --timeout" in row["error"]
    assert "--timeout" in cli("analyze", "--help").stdout and "3x the time" in cli("ask", "--help").stdout


def test_ask_beside_a_running_keyed_serve(installed, tmp_path: Path) -> None:
    server = ServeProcess("--port", str(free_port()), "--ctx", "2048", "--api-key", "sekrit-for-test")
    try:
        proc = cli("ask", "Say hello.", "--max-tokens", "4", "--api-key", "sekrit-for-test", "--ctx", "16000")
        assert proc.returncode == 0, proc.stderr
        assert f"using running heavylift serve at {server.url}" in proc.stderr  # no second engine
        assert "--ctx 16000 does not apply: the running heavylift serve" in proc.stderr
        assert "restart it with `heavylift serve --ctx N`" in proc.stderr
        long = lease(tmp_path / "long.txt", 160)
        too_long = cli("ask", "Who?", "--file", str(long), "--api-key", "sekrit-for-test")
        assert too_long.returncode == 2 and "(the running serve decides it)" in too_long.stderr
        assert "restart it with `heavylift serve --ctx" in too_long.stderr
        slow = cli("ask", "Say hello.", "--api-key", "sekrit-for-test", "--timeout", "0.001")
        assert slow.returncode == 1 and "Traceback" not in slow.stderr
        assert "no answer within the timeout of 0.001 s; if the model is just slow, raise --timeout" in slow.stderr
    finally:
        server.stop()


def test_resume_with_a_larger_context_finishes_a_too_long_document(installed, tmp_path: Path) -> None:
    doc = lease(tmp_path / "l.txt", 30)
    first = cli("analyze", str(doc), "--ask", "Who is the tenant?", "--ctx", "256", "--max-tokens", "8",
                "--name", "regrow")
    assert first.returncode == 0 and results("regrow")[0]["status"] == "failed"
    again = cli("resume", "regrow", "--ctx", "2048")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "ctx_per_slot 256 -> 2048" in again.stderr and "-c 2048 -np 1" in again.stderr
    [row] = results("regrow")
    assert row["status"] == "done" and row["answer"]


def _units(job: str) -> list[dict]:
    s = store()
    return s.unit_rows(s.get(job).id)


def _kv_jobs(tmp_path: Path, model: str, tag: str, *extra: str) -> dict[str, tuple[int, str, list[dict]]]:
    """The same two documents and two questions as three jobs: without saved KV, saving it, restoring it."""
    docs = [lease(tmp_path / "docs" / f"lease{i}.txt", 24, seed=i) for i in range(2)]
    common = [*map(str, docs), "--ask", "Who is the tenant?", "--ask", "What is paid for item 3?",
              "--max-tokens", "8", "--model", model, *extra]
    out = {}
    for step, min_tokens in (("plain", "1000000"), ("save", "64"), ("restore", "64")):
        name = f"kv-{tag}-{step}"
        proc = cli("analyze", *common, "--kv-save-min-tokens", min_tokens, "--name", name)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[step] = (proc.returncode, proc.stderr, _units(name))
    return out


def test_saved_kv_is_reused_on_a_plain_model_and_never_across_settings(installed, tmp_path: Path) -> None:
    from heavylift.analyze.kv_cache import KVCacheStore

    runs = _kv_jobs(tmp_path, "default", "llama")
    plain, saved, restored = (runs[k][2] for k in ("plain", "save", "restore"))
    answers = [results(f"kv-llama-{k}") for k in ("plain", "save", "restore")]
    assert [r["answer"] for r in answers[0]] == [r["answer"] for r in answers[1]] == [r["answer"] for r in answers[2]]
    firsts = [u for u in restored if u["task"] == "Who is the tenant?"]
    s = store()
    prefixes = [sub["num_prefix_tokens"] for sub in s.subjects(s.get("kv-llama-restore").id)]
    assert all(u["is_kv_restored"] for u in firsts)
    assert all(u["cached_tokens"] >= p > 300 for u, p in zip(firsts, prefixes, strict=True))  # the document came from disk
    assert not any(u["is_kv_restored"] for u in plain + saved)
    files = {f.name: f for f in KVCacheStore().files() if f.model == "smollm2-135m-instruct"}
    assert len(files) >= 2 and all(f.num_tokens and f.num_bytes for f in files.values())

    # Another KV type, or another context layout: the saved states are not served there.
    for tag, extra in (("q8", ["--", "-ctk", "q8_0", "-ctv", "q8_0"]), ("layout", ["--ctx-per-slot", "4096"])):
        name = f"kv-llama-{tag}"
        proc = cli("analyze", *(str(tmp_path / "docs" / f"lease{i}.txt") for i in range(2)), "--ask",
                   "Who is the tenant?", "--max-tokens", "8", "--kv-save-min-tokens", "64", "--name", name, *extra)
        assert proc.returncode == 0, proc.stderr[-2000:]
        units = _units(name)
        job_prefixes = [sub["num_prefix_tokens"] for sub in s.subjects(s.get(name).id)]
        # At most the system prompt comes from the slot's memory; the document is computed afresh.
        assert all(u["is_kv_restored"] is False and u["cached_tokens"] < p
                   for u, p in zip(units, job_prefixes, strict=True)), units
        assert "could not restore" not in proc.stderr
    names = {f.name for f in KVCacheStore().files() if f.model == "smollm2-135m-instruct"}
    assert len(names) == len(files) + 4  # each setting saved its own states


@pytest.mark.parametrize("kind", ["hybrid", "swa"])
def test_saved_kv_truth_on_hybrid_and_sliding_window_models(installed, hybrid_model_path, swa_model_path,
                                                            tmp_path: Path, kind: str) -> None:
    """llama-server restores the file (n_restored > 0) but then reprocesses the whole prompt (cache_n 0):
    the flag says so, the answers are the same as without saved KV, and saving stops for the architecture."""
    from heavylift.analyze.kv_cache import KVCacheStore

    model, arch = (hybrid_model_path, "qwen35moe") if kind == "hybrid" else (swa_model_path, "gpt-oss")
    runs = _kv_jobs(tmp_path, str(model), kind)
    answers = [[r["answer"] for r in results(f"kv-{kind}-{k}")] for k in ("plain", "save", "restore")]
    assert answers[0] == answers[1] == answers[2] and all(answers[0])
    restored = runs["restore"][2]
    assert not any(u["is_kv_restored"] for u in restored)  # what really happened
    firsts = [u for u in restored if u["task"] == "Who is the tenant?"]
    # The first document's state was restored and then recomputed in full by llama-server; after that
    # nothing is restored (saving is off), and at most the system prompt comes from the slot's memory.
    assert firsts[0]["cached_tokens"] == 0, restored
    s = store()
    prefixes = [sub["num_prefix_tokens"] for sub in s.subjects(s.get(f"kv-{kind}-restore").id)]
    assert all(u["cached_tokens"] < p for u, p in zip(firsts, prefixes, strict=True)), restored
    err = runs["restore"][1]
    assert err.count(f"saved KV is not reused for {arch} models by this engine build") == 1  # said once
    kv = KVCacheStore()
    assert kv.unrestorable_reason(arch, "llama.cpp " + _engine_version()) is not None
    assert not [f for f in kv.files() if f.architecture == arch]  # the useless files are gone
    job = s.get(f"kv-{kind}-restore")
    assert all(o == ["done"] for o in attempts_by_unit(s, job.id).values())

    again = cli("analyze", str(tmp_path / "docs" / "lease0.txt"), "--ask", "Who is the tenant?", "--max-tokens", "8",
                "--model", str(model), "--kv-save-min-tokens", "64", "--name", f"kv-{kind}-after")
    assert again.returncode == 0 and f"not saving KV for {arch} models on this engine build" in again.stderr
    assert not [f for f in kv.files() if f.architecture == arch]


def _engine_version() -> str:
    from heavylift.setup.engine_build import current_engine

    return current_engine().version
