"""Jobs as a state machine over the database, and every SQL statement about them. Every state change
is one transaction; a unit is 'done' only in the transaction that stores its answer, so a kill at
any moment loses nothing and repeats nothing (a unit caught 'running' by a kill goes back to
'pending' on resume)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any

from heavylift.analyze.ingest import Document, IngestError
from heavylift.analyze.job_types import (
    JOB_STATES,
    UNIT_STATES,
    Job,
    JobConfig,
    Unit,
    pid_alive,
)
from heavylift.analyze.prompts import TaskSpec
from heavylift.errors import UsageError
from heavylift.store import Database

__all__ = ["JOB_STATES", "UNIT_STATES", "Job", "JobConfig", "JobStore", "Unit", "pid_alive"]

_NOW = "strftime('%Y-%m-%dT%H:%M:%SZ','now')"


class JobStore:
    def __init__(self, db: Database | None = None):
        self.db = db or Database()

    # -- creating ---------------------------------------------------------------------------
    def create(self, name: str | None, config: JobConfig, docs: list[Document],
               errors: list[IngestError]) -> Job:
        from heavylift.paths import check_name

        name = check_name(name or time.strftime("job-%Y%m%d-%H%M%S"), "job name")  # it names the results file
        if self.db.execute("SELECT 1 FROM jobs WHERE name=?", (name,)).fetchone():
            raise UsageError(f"a job named {name!r} already exists; choose another --name (or `heavylift resume {name}`)")
        with self.db.transaction() as conn:
            job_id = conn.execute("INSERT INTO jobs(name, config) VALUES (?, ?)", (name, config.to_json())).lastrowid
            doc_ids: list[int] = []
            for position, doc in enumerate(docs):
                doc_ids.append(conn.execute(
                    "INSERT INTO job_documents(job_id, position, path, name, kind, sha256, num_chars, num_pages, pages)"
                    " VALUES (?,?,?,?,?,?,?,?,?)",
                    (job_id, position, doc.path, doc.name, doc.kind, doc.sha256, doc.num_chars,
                     len(doc.pages) or None, json.dumps(doc.pages) if doc.pages else None)).lastrowid)
            for position, err in enumerate(errors, start=len(docs)):
                conn.execute("INSERT INTO job_documents(job_id, position, path, error, status, duplicate_of) "
                             "VALUES (?,?,?,?,?,?)", (job_id, position, err.path, err.error, err.status, err.duplicate_of))
            groups = ([(" + ".join(d.name for d in docs), "\n\n".join(d.body() for d in docs), doc_ids)]
                      if config.is_together and docs else
                      [(d.name, d.body(), [i]) for d, i in zip(docs, doc_ids, strict=True)])
            for position, (subject_name, body, ids) in enumerate(groups):
                subject_id = self._add_subject(conn, job_id, position, subject_name, body, ids)
                self._add_units(conn, job_id, subject_id, config.tasks, "answer")
        return self.get(name)

    def add_job(self, conn: sqlite3.Connection, name: str, config: JobConfig,
                groups: list[tuple[str, str, list[TaskSpec]]]) -> tuple[int, list[list[int]]]:
        """A job with ready-made subjects (name, body, units' specs), inside the caller's transaction
        (API batches: one subject per shared prompt prefix, one unit per request). Returns the job id
        and the unit ids per group, in order."""
        job_id = conn.execute("INSERT INTO jobs(name, config) VALUES (?, ?)", (name, config.to_json())).lastrowid
        unit_ids: list[list[int]] = []
        for position, (subject_name, body, specs) in enumerate(groups):
            subject_id = self._add_subject(conn, job_id, position, subject_name, body, [])
            unit_ids.append([conn.execute(
                "INSERT INTO units(job_id, subject_id, position, task, question, role) VALUES (?,?,?,?,?,?)",
                (job_id, subject_id, i, spec.task, json.dumps(spec.to_dict()), "answer")).lastrowid
                for i, spec in enumerate(specs)])
        return job_id, unit_ids

    @staticmethod
    def _add_subject(conn: sqlite3.Connection, job_id: int, position: int, name: str, body: str,
                     doc_ids: list[int], parent_id: int | None = None, chunk: tuple[int, int] | None = None) -> int:
        from heavylift.analyze.ingest.document import sha256_bytes

        return conn.execute(
            "INSERT INTO subjects(job_id, position, name, body, body_sha256, document_ids, parent_id, chunk_index, num_chunks)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (job_id, position, name, body, sha256_bytes(body.encode()), json.dumps(doc_ids), parent_id,
             chunk[0] if chunk else None, chunk[1] if chunk else None)).lastrowid

    @staticmethod
    def _add_units(conn: sqlite3.Connection, job_id: int, subject_id: int, tasks: list[TaskSpec], role: str) -> None:
        for position, spec in enumerate(tasks):
            conn.execute("INSERT INTO units(job_id, subject_id, position, task, question, role) VALUES (?,?,?,?,?,?)",
                         (job_id, subject_id, position, spec.task, json.dumps(spec.to_dict()), role))

    def split_subject(self, job: Job, subject_id: int, chunks: list[str]) -> None:
        """--split: chunk subjects with 'map' units; the original units become 'reduce' units."""
        row = self.db.execute("SELECT * FROM subjects WHERE id=?", (subject_id,)).fetchone()
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM subjects WHERE parent_id=?", (subject_id,)).fetchone():
                return  # already split by an earlier run
            for index, body in enumerate(chunks, start=1):
                chunk_id = self._add_subject(conn, job.id, row["position"], f"{row['name']} [part {index}/{len(chunks)}]",
                                             body, json.loads(row["document_ids"]), subject_id, (index, len(chunks)))
                self._add_units(conn, job.id, chunk_id, job.config.tasks, "map")
            conn.execute("UPDATE units SET role='reduce' WHERE subject_id=? AND status='pending'", (subject_id,))

    def update_config(self, job: Job, config: JobConfig) -> Job:
        """`resume` with new settings (context, slots, engine arguments): stored for later runs too."""
        self.db.execute("UPDATE jobs SET config=? WHERE id=?", (config.to_json(), job.id))
        return self.get(job.id)

    def delete(self, job: Job) -> None:
        """The job and everything recorded for it (children first: units reference subjects)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM unit_attempts WHERE unit_id IN (SELECT id FROM units WHERE job_id=?)", (job.id,))
            conn.execute("DELETE FROM units WHERE job_id=?", (job.id,))
            conn.execute("UPDATE subjects SET parent_id=NULL WHERE job_id=?", (job.id,))
            conn.execute("DELETE FROM subjects WHERE job_id=?", (job.id,))
            conn.execute("DELETE FROM job_documents WHERE job_id=?", (job.id,))
            conn.execute("DELETE FROM jobs WHERE id=?", (job.id,))

    # -- reading ----------------------------------------------------------------------------
    def get(self, name_or_id: str | int) -> Job:
        row = self.db.execute("SELECT * FROM jobs WHERE name=? OR id=?", (str(name_or_id), str(name_or_id))).fetchone()
        if row is None:
            raise UsageError(f"no job named {name_or_id!r}; see `heavylift jobs`")
        return Job.from_row(row)

    def list(self) -> list[Job]:
        return [Job.from_row(r) for r in self.db.execute("SELECT * FROM jobs ORDER BY id")]

    def documents(self, job_id: int) -> list[dict[str, Any]]:
        """Every input with its outcome: analysed (status None), skipped or duplicate."""
        rows = self.db.execute(
            "SELECT id, path, name, kind, sha256, num_chars, num_pages, error, status, duplicate_of "
            "FROM job_documents WHERE job_id=? ORDER BY position", (job_id,)).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            if d["error"] and not d["status"]:  # rows written before statuses existed
                d["status"] = "skipped"
            out.append(d)
        return out

    def subject(self, subject_id: int) -> sqlite3.Row:
        return self.db.execute("SELECT * FROM subjects WHERE id=?", (subject_id,)).fetchone()

    def subjects(self, job_id: int) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM subjects WHERE job_id=? ORDER BY position, coalesce(chunk_index, 0)",
                               (job_id,)).fetchall()

    def units(self, job_id: int, status: str | None = None, role: str | None = None) -> list[Unit]:
        sql, params = "SELECT * FROM units WHERE job_id=?", [job_id]
        if status:
            sql, params = sql + " AND status=?", [*params, status]
        if role:
            sql, params = sql + " AND role=?", [*params, role]
        rows = self.db.execute(sql + " ORDER BY subject_id, position", params).fetchall()
        return [Unit(r["id"], r["subject_id"], r["position"], TaskSpec.from_dict(json.loads(r["question"])), r["role"],
                     r["status"], r["attempts"]) for r in rows]

    def counts(self, job_id: int) -> dict[str, int]:
        rows = self.db.execute("SELECT status, count(*) FROM units WHERE job_id=? AND role!='map' GROUP BY status",
                               (job_id,)).fetchall()
        out = dict.fromkeys(UNIT_STATES, 0)
        out.update({r[0]: r[1] for r in rows})
        return out

    def map_answers(self, subject_id: int, position: int) -> list[sqlite3.Row]:
        """The 'map' units for one task of a split subject, in chunk order."""
        return self.db.execute(
            "SELECT u.status, u.answer, u.error FROM units u JOIN subjects s ON s.id=u.subject_id "
            "WHERE s.parent_id=? AND u.position=? ORDER BY s.chunk_index", (subject_id, position)).fetchall()

    def unit_rows(self, job_id: int) -> list[dict[str, Any]]:
        """Every unit (split parts included) with its status, attempts, tokens and error, in job order."""
        rows = self.db.execute(
            "SELECT u.id, s.name AS subject, u.question, u.role, u.status, u.attempts, u.prompt_tokens, "
            "u.cached_tokens, u.completion_tokens, u.is_kv_restored, u.finish_reason, u.error "
            "FROM units u JOIN subjects s ON s.id=u.subject_id WHERE u.job_id=? "
            "ORDER BY s.position, coalesce(s.chunk_index, 1e9), u.position", (job_id,)).fetchall()
        out = []
        for r in rows:
            spec = json.loads(r["question"])
            row = {k: r[k] for k in r.keys() if k != "question"}
            row["task"] = spec.get("question") or spec["task"]
            row["is_kv_restored"] = None if r["is_kv_restored"] is None else bool(r["is_kv_restored"])
            out.append(row)
        return out

    def result_units(self, job_id: int) -> list[dict[str, Any]]:
        """The units that are results (answers and --split reduce steps, not the map parts), each with
        its tokens and timings totalled over the map parts it was made from."""
        sums = ", ".join(f"(SELECT sum(m.{c}) FROM units m JOIN subjects ms ON ms.id=m.subject_id "
                         f"WHERE ms.parent_id=u.subject_id AND m.position=u.position) AS map_{c}"
                         for c in ("prompt_tokens", "cached_tokens", "completion_tokens", "prefill_ms", "decode_ms"))
        parts = ("(SELECT count(*) FROM units m JOIN subjects ms ON ms.id=m.subject_id "
                 "WHERE ms.parent_id=u.subject_id AND m.position=u.position) AS num_parts")
        rows = self.db.execute(
            f"SELECT u.*, s.name AS subject_name, s.document_ids, {parts}, {sums} FROM units u "
            "JOIN subjects s ON s.id=u.subject_id WHERE u.job_id=? AND u.role!='map' ORDER BY s.position, u.position",
            (job_id,)).fetchall()
        out = []
        for r in rows:
            row = dict(r)
            if row["num_parts"]:
                for c in ("prompt_tokens", "cached_tokens", "completion_tokens", "prefill_ms", "decode_ms"):
                    if row[f"map_{c}"] is not None:
                        row[c] = (row[c] or 0) + row[f"map_{c}"]
            out.append(row)
        return out

    def progress_totals(self, job_id: int, run_started_at: float | None) -> dict[str, Any]:
        """Token totals over every answered request (split parts included), cache hits (answers that
        reused their whole document prefix), and this run's finished units and tokens."""
        total = self.db.execute(
            "SELECT coalesce(sum(u.prompt_tokens),0), coalesce(sum(u.cached_tokens),0), "
            "coalesce(sum(u.completion_tokens),0), "
            "coalesce(sum(u.cached_tokens >= s.num_prefix_tokens AND s.num_prefix_tokens > 0),0), "
            "coalesce(sum(CASE WHEN u.cached_tokens >= s.num_prefix_tokens AND s.num_prefix_tokens > 0 "
            "THEN u.cached_tokens END),0) "
            "FROM units u JOIN subjects s ON s.id=u.subject_id WHERE u.job_id=? AND u.prompt_tokens IS NOT NULL",
            (job_id,)).fetchone()
        run = (0, 0, 0)
        if run_started_at:
            run = self.db.execute(
                "SELECT count(*), coalesce(sum(prompt_tokens - cached_tokens),0), coalesce(sum(completion_tokens),0) "
                "FROM units WHERE job_id=? AND status IN ('done','failed') AND finished_at >= ? "
                "AND prompt_tokens IS NOT NULL", (job_id, run_started_at)).fetchone()
        left = self.db.execute("SELECT count(*) FROM units WHERE job_id=? AND status IN ('pending','running')",
                               (job_id,)).fetchone()[0]
        return {"prompt_tokens": total[0], "cached_tokens": total[1], "completion_tokens": total[2],
                "cache_hit_units": total[3], "cache_hit_tokens": total[4], "run_units": run[0],
                "run_computed_tokens": run[1], "run_completion_tokens": run[2], "units_left": left}

    def oldest_request_in_flight(self, job_id: int) -> dict[str, Any] | None:
        """The request running longest: when it was sent and how long its prompt is."""
        row = self.db.execute(
            "SELECT a.started_at, s.num_prompt_tokens, s.num_prefix_tokens FROM unit_attempts a "
            "JOIN units u ON u.id=a.unit_id JOIN subjects s ON s.id=u.subject_id "
            "WHERE u.job_id=? AND u.status='running' AND a.outcome IS NULL ORDER BY a.started_at LIMIT 1",
            (job_id,)).fetchone()
        return dict(row) if row else None

    def is_cancelled(self, job_id: int) -> bool:
        return self.db.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()[0] == "cancelled"

    # -- running ----------------------------------------------------------------------------
    def start_run(self, job: Job, engine_pid: int | None = None) -> None:
        self.db.execute("UPDATE jobs SET status='running', pid=?, engine_pid=?, run_started_at=?, error=NULL, "
                        "finished_at=NULL WHERE id=?", (os.getpid(), engine_pid, time.time(), job.id))

    def set_engine_pid(self, job: Job, engine_pid: int | None) -> None:
        self.db.execute("UPDATE jobs SET engine_pid=? WHERE id=?", (engine_pid, job.id))

    def set_predicted_prefill(self, job: Job, prefill_tps: float | None) -> None:
        self.db.execute("UPDATE jobs SET predicted_prefill_tps=? WHERE id=?", (prefill_tps, job.id))

    def prepare_resume(self, job: Job, retry_failed: bool = True) -> int:
        """Units a dead run left 'running' go back to 'pending' (their attempt marked interrupted)."""
        if job.status == "running" and job.is_process_alive and job.pid != os.getpid():
            raise UsageError(f"job {job.name!r} is still running (pid {job.pid}); wait for it or `heavylift cancel {job.name}`")
        with self.db.transaction() as conn:
            n = self._put_back_running(conn, job.id)
            if retry_failed:
                n += conn.execute("UPDATE units SET status='pending', error=NULL, attempts=0 WHERE job_id=? "
                                  "AND status='failed'", (job.id,)).rowcount
                conn.execute("UPDATE subjects SET error=NULL, num_prompt_tokens=NULL WHERE job_id=? AND error IS NOT NULL",
                             (job.id,))
        return n

    @staticmethod
    def _put_back_running(conn: sqlite3.Connection, job_id: int) -> int:
        """Requests cut off by a stop are 'interrupted' attempts; their units run again later."""
        conn.execute("UPDATE unit_attempts SET outcome='interrupted', finished_at=? WHERE outcome IS NULL AND "
                     "unit_id IN (SELECT id FROM units WHERE job_id=?)", (time.time(), job_id))
        return conn.execute("UPDATE units SET status='pending' WHERE job_id=? AND status='running'", (job_id,)).rowcount

    def claim(self, unit_id: int) -> tuple[int, int] | None:
        """pending -> running, logging the attempt: (attempt row id, attempt number), or None if
        someone else has it or it was cancelled."""
        with self.db.transaction() as conn:
            if conn.execute("UPDATE units SET status='running', attempts=attempts+1 WHERE id=? AND status='pending'",
                            (unit_id,)).rowcount != 1:
                return None
            attempt = conn.execute("SELECT attempts FROM units WHERE id=?", (unit_id,)).fetchone()[0]
            row_id = conn.execute("INSERT INTO unit_attempts(unit_id, attempt, started_at) VALUES (?,?,?)",
                                  (unit_id, attempt, time.time())).lastrowid
            return row_id, attempt

    def finish(self, unit_id: int, attempt_id: int, fields: dict[str, Any]) -> bool:
        """running -> done with its answer, atomically (False: the unit was no longer ours to finish)."""
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.db.transaction() as conn:
            done = conn.execute(f"UPDATE units SET status='done', error=NULL, finished_at=?, {cols} WHERE id=? "
                                "AND status='running'", (time.time(), *fields.values(), unit_id)).rowcount == 1
            if done:
                conn.execute("UPDATE unit_attempts SET outcome='done', finished_at=? WHERE id=?", (time.time(), attempt_id))
        return done

    def fail_attempt(self, unit_id: int, attempt_id: int, outcome: str, error: str, *, is_final: bool,
                     fields: dict[str, Any] | None = None) -> None:
        """An attempt that did not produce an answer: back to pending, or failed for good. An
        `interrupted` attempt (we stopped, the request was cut off) never counts against the unit."""
        fields = fields or {}
        cols = "".join(f", {k}=?" for k in fields)
        with self.db.transaction() as conn:
            if outcome == "interrupted":
                conn.execute("UPDATE units SET status='pending' WHERE id=? AND status='running'", (unit_id,))
            else:
                conn.execute(f"UPDATE units SET status=?, error=?, finished_at=?{cols} WHERE id=? AND status='running'",
                             ("failed" if is_final else "pending", error, time.time(), *fields.values(), unit_id))
            conn.execute("UPDATE unit_attempts SET outcome=?, error=?, finished_at=? WHERE id=?",
                         (outcome, error, time.time(), attempt_id))

    def fail_subject(self, subject_id: int, error: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE subjects SET error=? WHERE id=?", (error, subject_id))
            conn.execute("UPDATE units SET status='failed', error=?, finished_at=? WHERE subject_id=? AND status='pending'",
                         (error, time.time(), subject_id))

    def set_prompt_tokens(self, subject_id: int, n: int, n_prefix: int | None = None) -> None:
        self.db.execute("UPDATE subjects SET num_prompt_tokens=?, num_prefix_tokens=? WHERE id=?", (n, n_prefix, subject_id))

    def cancel(self, job: Job) -> int:
        with self.db.transaction() as conn:
            conn.execute(f"UPDATE jobs SET status='cancelled', finished_at={_NOW} WHERE id=?", (job.id,))
            states = "('pending','running')" if not job.is_process_alive else "('pending')"
            return conn.execute(f"UPDATE units SET status='cancelled' WHERE job_id=? AND status IN {states}",
                                (job.id,)).rowcount

    def end_run(self, job: Job, error: str | None = None) -> str:
        """Close this process's run: requests still in flight were cut off (interrupted, their units
        pending again); the job is done when nothing is left, else interrupted (resume finishes it)."""
        with self.db.transaction() as conn:
            self._put_back_running(conn, job.id)
            if self.is_cancelled(job.id):
                status = "cancelled"
                # A unit put back to pending after the cancel (its request failed) will not run either.
                conn.execute("UPDATE units SET status='cancelled' WHERE job_id=? AND status='pending'", (job.id,))
            else:
                left = conn.execute("SELECT count(*) FROM units WHERE job_id=? AND status='pending'",
                                    (job.id,)).fetchone()[0]
                status = "interrupted" if left else "done"
            conn.execute(f"UPDATE jobs SET status=?, error=?, pid=NULL, engine_pid=NULL, finished_at={_NOW} WHERE id=?",
                         (status, error if status == "interrupted" else None, job.id))
        return status
