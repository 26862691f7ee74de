"""What a user meets in analyze / ask / results / jobs / kv without an engine (issue 11, issue 10's
`--ctx` and code-move items): questions, task flags, URLs, formats, states, progress, names, KV files.
Real SQLite, real files; jobs are built with the JobStore the CLI uses."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from heavylift.analyze.ingest import ingest_paths
from heavylift.analyze.jobs import JobConfig, JobStore
from heavylift.analyze.prompts import TaskSpec
from heavylift.engines.llama_server import free_port

from .jobutils import cli, store, write_docs

DOWN = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here


def make_job(name: str, folder: Path, n_docs: int = 2, tasks: list[TaskSpec] | None = None, **config) -> JobStore:
    docs, errors = ingest_paths(write_docs(folder, n_docs))
    s = store()
    s.create(name, JobConfig(tasks=tasks or [TaskSpec("question", question="Who?")], **config), docs, errors)
    return s


def answer_all(s: JobStore, name: str, **fields) -> None:
    """Mark every pending unit done as a run would (claim, then finish with fields)."""
    job = s.get(name)
    for unit in s.units(job.id, status="pending"):
        attempt_id, _ = s.claim(unit.id)
        s.finish(unit.id, attempt_id, {"answer": json.dumps("ok"), "prompt_tokens": 100, "cached_tokens": 0,
                                       "completion_tokens": 5, **fields})


# -- questions -------------------------------------------------------------------------------------

def test_questions_files_repeatable_bom_crlf_and_duplicates_asked_once(tmp_path: Path) -> None:
    from heavylift.analyze.tasks import build_tasks

    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_bytes("\ufeffWho are the parties?\r\n# a comment\r\nWhat is the term?\r\n".encode())
    b.write_text("What is the notice period?\nWho are the parties?\n")
    tasks, notes = build_tasks(["What is the term?"], [a, b], [], None, None)
    assert [t.question for t in tasks] == ["What is the term?", "Who are the parties?", "What is the notice period?"]
    assert notes == ["asked once: 'What is the term?' was given 2 times",
                     "asked once: 'Who are the parties?' was given 2 times"]

    proc = cli("analyze", str(write_docs(tmp_path / "d", 1)[0]), "--questions", str(a), "--questions", str(b),
               "--ask", "Who are the parties?", "--endpoint", DOWN, "--endpoint-wait", "0.1", "--name", "qfiles")
    assert "analyze: asked once: 'Who are the parties?' was given 3 times" in proc.stderr
    config = json.loads(cli("jobs", "show", "qfiles", "--json").stdout)["config"]
    assert [t["question"] for t in config["tasks"]] == ["Who are the parties?", "What is the term?",
                                                       "What is the notice period?"]


@pytest.mark.parametrize("flags, message", [
    (["--schema", "s.json"], "--schema goes with --task extract; add --task extract"),
    (["--labels", "a,b"], "--labels goes with --task classify; add --task classify"),
])
def test_schema_and_labels_without_their_task_follow_one_rule(tmp_path: Path, flags, message) -> None:
    (tmp_path / "s.json").write_text('{"type": "object"}')
    (tmp_path / "a.md").write_text("words")
    flags = [str(tmp_path / f) if f.endswith(".json") else f for f in flags]
    proc = cli("analyze", str(tmp_path / "a.md"), "--ask", "q?", *flags)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_one_json_schema_draft_checks_and_validates() -> None:
    """A draft-07 schema is checked and applied as draft-07 (`dependencies` means something there)."""
    from heavylift.analyze.answers import parse_answer

    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
              "dependencies": {"start": ["end"]}}
    spec = TaskSpec("extract", schema=schema)
    assert parse_answer(spec, '{"start": 1, "end": 2}').error is None
    assert "does not match the schema" in parse_answer(spec, '{"start": 1}').error


def test_answer_cut_at_max_tokens_is_said_and_not_retried() -> None:
    from heavylift.analyze.answers import parse_answer

    parsed = parse_answer(TaskSpec("extract", schema={"type": "object"}), '{"supplier": "Acme', "length", 40)
    assert not parsed.is_retryable and "cut off at the --max-tokens limit of 40" in parsed.error
    assert "raise --max-tokens (e.g. to 80)" in parsed.error and "JSON" not in parsed.error
    assert parse_answer(TaskSpec("question", question="q"), "A long answer that", "length", 4).error is None


# -- URLs, models, hardware --------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["ask", "hi"], ["analyze", "README.md", "--ask", "q?"]])
def test_endpoint_that_is_not_a_url_is_bad_input(command) -> None:
    proc = cli(*command, "--endpoint", "notaurl")
    assert proc.returncode == 2 and "--endpoint 'notaurl' is not a URL" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_endpoint_v1_is_not_doubled() -> None:
    proc = cli("ask", "hi", "--endpoint", DOWN)
    assert proc.returncode == 1 and f"{DOWN} is not answering" in proc.stderr and "/v1/v1" not in proc.stderr


def test_normalize_base_url() -> None:
    from heavylift.engines.client import normalize_base_url
    from heavylift.errors import UsageError

    assert normalize_base_url("http://h:8080/v1/") == "http://h:8080"
    assert normalize_base_url("https://api.example.com/v1") == "https://api.example.com"
    assert normalize_base_url("http://[::1]:8080") == "http://[::1]:8080"
    for bad in ("notaurl", "localhost:8080", "ftp://x", "http://", "http://a b"):
        with pytest.raises(UsageError, match="is not a URL"):
            normalize_base_url(bad)


@pytest.mark.parametrize("command", [["analyze", "README.md", "--ask", "q?", "--model", "no-such-model"],
                                     ["ask", "hi", "--model", "no-such-model"],
                                     ["models", "info", "no-such-model"]])
def test_unknown_model_is_bad_input(command) -> None:
    proc = cli(*command)
    assert proc.returncode == 2 and "unknown model 'no-such-model'" in proc.stderr and "Traceback" not in proc.stderr


def test_models_list_flags_a_model_whose_file_is_gone(tmp_path: Path) -> None:
    from tests.plan.tiny_gguf import TinyShape, write_tiny_llama

    path = write_tiny_llama(tmp_path / "gone.gguf", TinyShape(n_layer=1, n_vocab=512, n_embd=64, n_ff=128, n_head=2,
                                                             n_head_kv=1))
    assert cli("models", "add", str(path), "--name", "soon-gone").returncode == 0
    path.unlink()
    listing = cli("models", "list")
    line = next(ln for ln in listing.stdout.splitlines() if ln.startswith("soon-gone"))
    assert "FILE MISSING" in line and "heavylift models rm soon-gone" in line
    entry = next(m for m in json.loads(cli("models", "list", "--json").stdout) if m["name"] == "soon-gone")
    assert entry["is_missing"] is True
    assert cli("models", "rm", "soon-gone").returncode == 0  # the advice works
    assert "soon-gone" not in cli("models", "list").stdout


def test_hw_error_lists_every_device() -> None:
    from heavylift.hardware.catalog import DEVICES

    proc = cli("plan", "qwen3-235b-a22b", "--hw", "1x rtx-9999, 64GB")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "plan --list-hardware" in proc.stderr  # the error points to the full list
    listing = cli("plan", "--list-hardware")
    assert listing.returncode == 0 and all(name in listing.stdout for name in DEVICES)


# -- --ctx means the total ---------------------------------------------------------------------------

def test_ctx_is_the_total_and_old_jobs_stay_readable(tmp_path: Path) -> None:
    from heavylift.analyze.job_types import ctx_per_slot_from
    from heavylift.errors import UsageError

    assert ctx_per_slot_from(16384, None, 2) == 8192 and ctx_per_slot_from(None, 4096, 2) == 4096
    assert ctx_per_slot_from(None, None, 2) is None
    with pytest.raises(UsageError, match="disagree"):
        ctx_per_slot_from(8192, 8192, 2)
    old = JobConfig.from_dict({"tasks": [], "ctx": 2048, "parallel": 2})  # stored before: ctx was per slot
    assert old.ctx_per_slot == 2048 and old.ctx_total == 4096

    doc = write_docs(tmp_path / "d", 1)[0]
    cli("analyze", str(doc), "--ask", "q?", "--ctx", "8192", "--parallel", "2", "--endpoint", DOWN,
        "--endpoint-wait", "0.1", "--name", "ctx-total")
    cli("analyze", str(doc), "--ask", "q?", "--ctx-per-slot", "3000", "--parallel", "2", "--endpoint", DOWN,
        "--endpoint-wait", "0.1", "--name", "ctx-slot")
    shown = cli("jobs", "show", "ctx-total").stdout
    assert "2 slot(s) x 4096 tokens (--ctx 8192)" in shown
    assert json.loads(cli("jobs", "show", "ctx-slot", "--json").stdout)["config"]["ctx_per_slot"] == 3000


def test_too_long_advice_can_work() -> None:
    from heavylift.analyze.context_budget import too_long_message

    capped = too_long_message(8300, 512, 8192, 8192)  # more than the model was trained on
    assert "--ctx" not in capped and "--split" in capped and "longer context (this one was trained on 8192" in capped
    room = too_long_message(7000, 2000, 8192, 8192)
    assert "lower --max-tokens to 1192 or less" in room and "--ctx" not in room
    raisable = too_long_message(3000, 512, 2048, 8192)
    assert "raise --ctx-per-slot to at least 3512" in raisable


# -- job states, progress, results -------------------------------------------------------------------

def test_killed_job_shows_interrupted_without_a_live_rate(tmp_path: Path) -> None:
    s = make_job("killed-rate", tmp_path / "k", n_docs=3)
    job = s.get("killed-rate")
    s.start_run(job)
    answer_all(s, "killed-rate")  # all done...
    unit = s.units(job.id, status="done")[0]
    s.db.execute("UPDATE units SET status='pending' WHERE id=?", (unit.id,))  # ...but one, then killed
    s.db.execute("UPDATE jobs SET pid=? WHERE id=?", (2**22 + 12345, job.id))  # a pid no process has
    line = next(ln for ln in cli("jobs").stdout.splitlines() if "killed-rate:" in ln)
    assert line.startswith("interrupted ") and "tok/s" not in line and "ETA" not in line
    assert "stopped with 1 left: `heavylift resume killed-rate` finishes it" in line


def test_first_prefill_is_shown_with_its_prediction(tmp_path: Path) -> None:
    s = make_job("prefill", tmp_path / "p", n_docs=1)
    job = s.get("prefill")
    s.start_run(job)
    s.set_predicted_prefill(job, 20.0)
    subject = s.subjects(job.id)[0]
    s.set_prompt_tokens(subject["id"], 3100, 3090)
    unit = s.units(job.id)[0]
    s.claim(unit.id)
    s.db.execute("UPDATE unit_attempts SET started_at=? WHERE unit_id=?", (time.time() - 65, unit.id))
    line = next(ln for ln in cli("jobs").stdout.splitlines() if "prefill:" in ln)
    assert "prefill of 3100 prompt tokens running for 1m05s (predicted 2m35s)" in line, line
    assert "0 tok/s" not in line


def test_cache_hits_count_document_prefix_reuse_only(tmp_path: Path) -> None:
    s = make_job("hits", tmp_path / "h", n_docs=1,
                 tasks=[TaskSpec("question", question=q) for q in ("a?", "b?", "c?")])
    job = s.get("hits")
    subject = s.subjects(job.id)[0]
    s.set_prompt_tokens(subject["id"], 320, 300)
    for unit, cached in zip(s.units(job.id), (49, 300, 310), strict=True):  # system prompt only, then the document
        attempt_id, _ = s.claim(unit.id)
        s.finish(unit.id, attempt_id, {"answer": '"x"', "prompt_tokens": 320, "cached_tokens": cached,
                                       "completion_tokens": 4})
    line = next(ln for ln in cli("jobs").stdout.splitlines() if "hits:" in ln)
    assert "cache hits 2 (610 tokens reused)" in line


def test_split_results_total_map_and_reduce(tmp_path: Path) -> None:
    from heavylift.analyze.results import result_rows

    s = make_job("split-totals", tmp_path / "s", n_docs=1, is_split=True)
    job = s.get("split-totals")
    parent = s.subjects(job.id)[0]
    s.split_subject(job, parent["id"], ["part one", "part two"])
    for unit in s.units(job.id, status="pending"):
        attempt_id, _ = s.claim(unit.id)
        tokens = (500, 0, 20, 900.0, 200.0) if unit.role == "map" else (120, 0, 30, 100.0, 300.0)
        s.finish(unit.id, attempt_id, dict(zip(("prompt_tokens", "cached_tokens", "completion_tokens", "prefill_ms",
                                                "decode_ms"), tokens, strict=True), answer='"x"'))
    [row] = result_rows(s, s.get("split-totals"))
    assert (row.prompt_tokens, row.completion_tokens, row.prefill_ms, row.decode_ms, row.parts) == (1120, 70, 1900.0, 700.0, 2)


def test_results_format_from_out_extension_or_refused(tmp_path: Path) -> None:
    make_job("formats", tmp_path / "f", n_docs=1)
    out = tmp_path / "x.md"
    proc = cli("results", "formats", "--out", str(out))
    assert proc.returncode == 0 and out.read_text().startswith("| document | question |") and "(md)" in proc.stderr
    assert cli("results", "formats", "--out", str(tmp_path / "x.csv")).returncode == 0
    assert (tmp_path / "x.csv").read_text().startswith("document,question,task,")
    unknown = cli("results", "formats", "--out", str(tmp_path / "x.txt"))
    assert unknown.returncode == 2 and "cannot tell the format from --out x.txt" in unknown.stderr
    clash = cli("results", "formats", "--format", "csv", "--out", str(tmp_path / "y.md"))
    assert clash.returncode == 2 and "--format csv does not match --out y.md" in clash.stderr
    assert not (tmp_path / "x.txt").exists() and not (tmp_path / "y.md").exists()


def test_skipped_and_duplicate_rows_and_distinguishing_names(tmp_path: Path) -> None:
    for folder in ("apt", "curl"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "copyright").write_text(f"{folder} license terms")
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "copyright").write_text("apt license terms")
    (tmp_path / "empty.txt").write_text("")
    docs, errors = ingest_paths([tmp_path / "apt", tmp_path / "curl", tmp_path / "again", tmp_path / "empty.txt"])
    s = store()
    s.create("statuses", JobConfig(tasks=[TaskSpec("question", question="Who?")]), docs, errors)
    rows = json.loads("[" + ",".join(cli("results", "statuses").stdout.splitlines()) + "]")
    by_status = {r["status"]: r for r in rows if r["status"] in ("skipped", "duplicate")}
    assert by_status["duplicate"]["duplicate_of"] == str(tmp_path / "apt" / "copyright")
    assert by_status["skipped"]["error"] == "empty file" and "failed" not in {r["status"] for r in rows}
    assert sorted(r["document"] for r in rows if r["status"] == "pending") == ["apt/copyright", "curl/copyright"]
    md = cli("results", "statuses", "--format", "md").stdout
    assert "| apt/copyright |" in md and "| curl/copyright |" in md
    shown = cli("jobs", "show", "statuses").stdout
    assert f"{tmp_path / 'again' / 'copyright'}: DUPLICATE of {tmp_path / 'apt' / 'copyright'}" in shown
    assert "empty.txt: SKIPPED empty file" in shown and "pending   apt/copyright | Who?" in shown


def test_jobs_rm(tmp_path: Path) -> None:
    s = make_job("to-remove", tmp_path / "r")
    answer_all(s, "to-remove")
    s.end_run(s.get("to-remove"))
    from heavylift.analyze.job_runner import export_job

    results = export_job(s, s.get("to-remove"))
    assert results.exists()
    make_job("busy", tmp_path / "b")
    s.start_run(s.get("busy"))  # running, by this (live) process
    refused = cli("jobs", "rm", "busy")
    assert refused.returncode == 2 and "is running" in refused.stderr
    assert cli("jobs", "rm", "nope").returncode == 2
    proc = cli("jobs", "rm", "to-remove")
    assert proc.returncode == 0 and "removed to-remove" in proc.stderr and not results.exists()
    assert "to-remove" not in cli("jobs").stdout and cli("jobs", "show", "to-remove").returncode == 2
    assert s.db.execute("SELECT count(*) FROM units u LEFT JOIN jobs j ON j.id=u.job_id WHERE j.id IS NULL").fetchone()[0] == 0


def test_resume_of_a_finished_job_starts_no_engine(tmp_path: Path) -> None:
    s = make_job("finished", tmp_path / "fin")
    answer_all(s, "finished")
    s.end_run(s.get("finished"))
    started = time.monotonic()
    proc = cli("resume", "finished")
    assert proc.returncode == 0 and "already done: 2 done, 0 failed, nothing to run (no engine started)" in proc.stderr
    assert "starting" not in proc.stderr and time.monotonic() - started < 20


def test_resume_changes_settings_and_keeps_them(tmp_path: Path) -> None:
    s = make_job("reconf", tmp_path / "rc", ctx_per_slot=512)
    answer_all(s, "reconf")
    s.end_run(s.get("reconf"))
    proc = cli("resume", "reconf", "--ctx", "8192", "--parallel", "2", "--max-tokens", "64", "--", "-ctk", "q8_0")
    assert proc.returncode == 0 and "ctx_per_slot 512 -> 4096" in proc.stderr and "parallel 1 -> 2" in proc.stderr
    config = s.get("reconf").config
    assert (config.ctx_per_slot, config.parallel, config.max_tokens, config.engine_args) == (4096, 2, 64, ["-ctk", "q8_0"])
    make_job("reconf-ep", tmp_path / "rce", endpoint="http://127.0.0.1:9")
    refused = cli("resume", "reconf-ep", "--", "-ctk", "q8_0")
    assert refused.returncode == 2 and "need our own engine" in refused.stderr


# -- saved KV files -----------------------------------------------------------------------------------

def test_kv_cache_key_covers_model_file_kv_type_layout_and_build(tmp_path: Path) -> None:
    from heavylift.analyze.kv_cache import cache_key, model_fingerprint

    model = tmp_path / "m.gguf"
    model.write_bytes(os.urandom(3 << 20))
    copy = tmp_path / "copy" / "m.gguf"
    copy.parent.mkdir()
    copy.write_bytes(model.read_bytes())
    fp = model_fingerprint(model)
    assert model_fingerprint(copy) == fp  # the same content elsewhere keeps its saved KV
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one weight changed (a re-quantized or fine-tuned file)
    model.write_bytes(bytes(data))
    changed_fp = model_fingerprint(model)
    base = cache_key(fp, "0c1e570 cpu -DGGML_RPC=ON", [], 8192, 1)
    variants = [cache_key(changed_fp, "0c1e570 cpu -DGGML_RPC=ON", [], 8192, 1),       # model file
                cache_key(fp, "0c1e570 cpu -DGGML_RPC=ON", ["-ctk", "q8_0", "-ctv", "q8_0"], 8192, 1),  # KV type
                cache_key(fp, "0c1e570 cpu -DGGML_RPC=ON", [], 4096, 1),               # context per slot
                cache_key(fp, "0c1e570 cpu -DGGML_RPC=ON", [], 8192, 2),               # slots
                cache_key(fp, "1a2b3c4 cpu -DGGML_RPC=ON", [], 8192, 1),               # engine version
                cache_key(fp, "0c1e570 cuda -DGGML_CUDA=ON", [], 8192, 1)]             # engine backend
    assert len({base, *variants}) == 1 + len(variants)


def test_kv_cap_evicts_least_recently_used_and_kv_cli(tmp_path: Path) -> None:
    from heavylift.analyze.kv_cache import KVCacheStore, kv_dir

    kv = KVCacheStore()
    kv.remove([f.name for f in kv.files()])
    for i, name in enumerate(("old.bin", "mid.bin", "new.bin")):
        (kv_dir() / name).write_bytes(b"\0" * 1000)
        kv.record_save(name, 1000, 100 + i, "tiny", "llama")
        kv.db.execute("UPDATE kv_files SET last_used_at=? WHERE name=?", (1000.0 + i, name))
    kv.touch("old.bin")  # used just now: the least recently used is now mid.bin
    (kv_dir() / "users-own.bin").write_bytes(b"\0" * 10)  # not analyze's: listed, never evicted by the cap
    evicted = kv.evict(2100)
    assert [f.name for f in evicted] == ["mid.bin"]
    assert sorted(p.name for p in kv_dir().glob("*.bin")) == ["new.bin", "old.bin", "users-own.bin"]
    listing = cli("kv", "list")
    assert "3 saved KV file(s)" in listing.stdout and "(not analyze's)" in listing.stdout
    data = json.loads(cli("kv", "list", "--json").stdout)
    assert [f["name"] for f in data["files"]] == ["new.bin", "old.bin", "users-own.bin"]
    kv.mark_unrestorable("qwen35moe", "llama.cpp test", "restore reused 0 of 300 tokens")
    assert "not saved for qwen35moe on llama.cpp test: restore reused 0 of 300 tokens" in cli("kv", "list").stdout
    proc = cli("kv", "clean", "--max-gib", str(1500 / 1024**3))
    assert proc.returncode == 0 and "removed 1 file(s)" in proc.stderr
    assert cli("kv", "clean", "--all", "--forget-unrestorable").returncode == 0
    assert not list(kv_dir().glob("*.bin")) and kv.unrestorable() == []
    assert cli("kv", "clean").returncode == 2  # say which
