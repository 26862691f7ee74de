"""`heavylift analyze` end to end on the real engine and the default model (tiny docs, short answers).

Covers: cache reuse, a too-long document reported while the rest completes, constrained
classification, an invalid schema rejected before a job exists, kill -9 and resume with exact
counts, and an endpoint that goes down mid-job and comes back (resume).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from heavylift.analyze.jobs import pid_alive

from .jobutils import (
    FAST,
    attempts_by_unit,
    cli,
    results,
    start_cli,
    store,
    units_done,
    wait_for,
    write_docs,
)


def test_invalid_schema_rejected_before_the_job_starts(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("words")
    (tmp_path / "bad.json").write_text('{"type": "object", "properties": {"x": {"type": "strin"}}}')
    (tmp_path / "notjson.json").write_text("{type: object")
    for schema, message in (("bad.json", "is not a valid JSON Schema at properties/x/type"),
                            ("notjson.json", "is not valid JSON (line 1")):
        proc = cli("analyze", str(tmp_path / "a.md"), "--task", "extract", "--schema", str(tmp_path / schema),
                   "--name", f"bad-schema-{schema}")
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
        assert f"bad-schema-{schema}" not in cli("jobs").stdout


def test_no_readable_documents_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    proc = cli("analyze", str(tmp_path / "empty.txt"), str(tmp_path / "missing.pdf"), "--ask", "q?")
    assert proc.returncode == 2
    assert "skipping" in proc.stderr and "empty file" in proc.stderr and "no such file or folder" in proc.stderr


def test_cache_reuse_too_long_doc_and_classify(installed, tmp_path: Path) -> None:
    small = write_docs(tmp_path / "docs", 1)[0]
    big = tmp_path / "docs" / "big.txt"
    big.write_text("Clause. The tenant shall keep the premises in good repair at all times. " * 60)
    proc = cli("analyze", str(tmp_path / "docs"), str(tmp_path / "missing.docx"), "--ask", "Who is the supplier?",
               "--ask", "When is payment due?", "--task", "classify", "--labels", "contract,lease,paper",
               "--ctx", "512", "--name", "budget", *FAST)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = results("budget")
    by_doc: dict[str, list[dict]] = {}
    for row in rows:
        by_doc.setdefault(row["document"], []).append(row)
    assert [r["status"] for r in by_doc[small.name]] == ["done"] * 3
    first, second, label = by_doc[small.name]
    assert first["cached_tokens"] < second["cached_tokens"] and second["cached_tokens"] > 50  # document reused
    assert second["prompt_tokens"] > second["cached_tokens"] and second["model"] and second["quantization"] == "Q4_1"
    assert label["answer"] in ("contract", "lease", "paper")
    too_long = by_doc["big.txt"]
    assert [r["status"] for r in too_long] == ["failed"] * 3
    assert "too long for the context" in too_long[0]["error"] and "> 512 per slot" in too_long[0]["error"]
    assert int(too_long[0]["error"].split(": ")[1].split(" ")[0]) > 512  # the measured token count
    assert by_doc[str(tmp_path / "missing.docx")][0]["error"] == "no such file or folder"
    assert "big.txt: too long for the context" in proc.stderr


def test_kill_and_resume_exact_counts(installed, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "kill", 4)
    args = [sys.executable, "-m", "heavylift", "analyze", *map(str, docs), "--ask", "Who is the supplier?",
            "--ask", "When is payment due?", "--name", "killme", *FAST]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    s = store()
    deadline = time.monotonic() + 240
    done_before: set[int] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        row = s.db.execute("SELECT id FROM jobs WHERE name='killme'").fetchone()
        if row:
            done_before = {r[0] for r in s.db.execute("SELECT id FROM units WHERE job_id=? AND status='done'", (row[0],))}
            if len(done_before) >= 3:
                break
        time.sleep(0.1)
    assert proc.poll() is None, "the job finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    job = s.get("killme")
    done_at_kill = {r[0] for r in s.db.execute("SELECT id FROM units WHERE job_id=? AND status='done'", (job.id,))}
    attempts_at_kill = {r[0]: r[1] for r in s.db.execute(
        "SELECT unit_id, count(*) FROM unit_attempts GROUP BY unit_id")}
    assert 3 <= len(done_at_kill) < 8 and job.status == "running" and not pid_alive(job.pid)
    engine_pid = job.engine_pid
    assert "interrupted" in cli("jobs").stdout

    resumed = cli("resume", "killme", "--progress-interval", "2")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # The engine dies with its parent (PR_SET_PDEATHSIG); if it did not, resume stops it.
    assert not pid_alive(engine_pid)
    units = s.db.execute("SELECT id, status FROM units WHERE job_id=?", (job.id,)).fetchall()
    assert len(units) == 8 and all(u["status"] == "done" for u in units)  # no unit lost
    outcomes = s.db.execute("SELECT unit_id, outcome FROM unit_attempts a JOIN units u ON u.id=a.unit_id "
                            "WHERE u.job_id=?", (job.id,)).fetchall()
    done_count: dict[int, int] = {}
    for row in outcomes:
        done_count[row["unit_id"]] = done_count.get(row["unit_id"], 0) + (row["outcome"] == "done")
    assert all(done_count[u["id"]] == 1 for u in units)  # each unit answered exactly once
    for unit_id in done_at_kill:  # none re-run after the kill
        assert sum(1 for r in outcomes if r["unit_id"] == unit_id) == attempts_at_kill[unit_id]
    interrupted = [r for r in outcomes if r["outcome"] == "interrupted"]
    assert len(interrupted) <= 1 and len(outcomes) == 8 + len(interrupted)
    print(f"kill-and-resume: {len(done_at_kill)} done at kill, {len(interrupted)} interrupted, "
          f"{8 - len(done_at_kill)} run by resume, {len(outcomes)} requests for 8 units")
    assert s.get("killme").status == "done"


def test_endpoint_down_mid_job_then_resume_when_back(installed, tmp_path: Path) -> None:
    """The endpoint dies mid-job: completed work is kept and the job stops with work left; when the
    endpoint is back at the same URL, `resume` runs only the remaining units."""
    from heavylift.engines.launch import local_engine

    docs = write_docs(tmp_path / "ep", 3)
    engine = local_engine("default", ctx_size=2048)
    engine.start()
    try:
        proc = start_cli("analyze", *map(str, docs), "--ask", "Who is the supplier?", "--ask", "When is payment due?",
                         "--endpoint", engine.openai_base_url, "--endpoint-wait", "2", "--name", "epdown", *FAST,
                         stderr_path=tmp_path / "stderr.txt")
        s = store()
        wait_for(lambda: units_done(s, "epdown") >= 2, proc, step_s=0.02)
        engine.stop(timeout_s=1)  # llama-server ignores a first SIGTERM while a request is in flight
        proc.wait(timeout=120)
    finally:
        engine.stop()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 1, stderr[-2000:]
    assert "went down" in stderr and "heavylift resume epdown" in stderr and "Traceback" not in stderr
    job = s.get("epdown")
    counts = s.counts(job.id)
    # One state for "stopped with work left" (issue 11), and the cut request is not an engine error.
    assert job.status == "interrupted" and counts["done"] >= 2 and counts["running"] == 0
    assert counts["done"] + counts["pending"] == 6 and counts["done"] < 6 and counts["failed"] == 0
    cut = [o for outcomes in attempts_by_unit(s, job.id).values() for o in outcomes if o != "done"]
    assert cut and set(cut) == {"interrupted"}
    assert "interrupted" in cli("jobs").stdout.split("epdown:")[0].splitlines()[-1]
    assert all(r["answer"] for r in results("epdown") if r["status"] == "done")
    done_before = {r[0] for r in s.db.execute("SELECT id FROM units WHERE job_id=? AND status='done'", (job.id,))}
    attempts_before = attempts_by_unit(s, job.id)

    back = local_engine("default", ctx_size=2048, port=engine.config.port)  # the same URL the job stored
    back.start()
    try:
        resumed = cli("resume", "epdown", "--progress-interval", "2")
    finally:
        back.stop()
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{len(done_before)} done (kept)" in resumed.stderr
    assert s.get("epdown").status == "done" and s.counts(job.id)["done"] == 6
    attempts = attempts_by_unit(s, job.id)
    for unit_id in done_before:  # completed units were not redone
        assert attempts[unit_id] == attempts_before[unit_id] == ["done"]
    assert all(outcomes.count("done") == 1 for outcomes in attempts.values()) and len(attempts) == 6
