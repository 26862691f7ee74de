"""Jobs as a state machine over the database. Every state change is one transaction; a unit is
'done' only in the transaction that stores its answer, so a kill at any moment loses nothing and
repeats nothing (a unit caught 'running' by a kill goes back to 'pending' on resume)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from heavylift.analyze.ingest import Document, IngestError
from heavylift.analyze.prompts import TaskSpec
from heavylift.errors import UsageError
from heavylift.store import Database

UNIT_STATES = ("pending", "running", "done", "failed", "cancelled")


@dataclass
class JobConfig:
    """How a job runs; stored with it so `resume` runs it the same way."""

    tasks: list[TaskSpec]
    model: str = "default"
    endpoint: str | None = None
    parallel: int = 1
    ctx: int = 8192  # per slot
    max_tokens: int = 512
    is_together: bool = False
    is_split: bool = False
    kv_save_min_tokens: int = 1024  # save a slot's KV to disk for prefixes at least this long
    max_attempts: int = 3
    endpoint_wait_s: float = 30.0  # how long a down engine/endpoint is waited for before the job stops
    temperature: float = 0.0
    seed: int = 0
    engine_args: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["tasks"] = [t.to_dict() for t in self.tasks]
        return json.dumps(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobConfig:
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["tasks"] = [TaskSpec.from_dict(t) for t in data.get("tasks", [])]
        return cls(**data)


@dataclass
class Job:
    id: int
    name: str
    status: str
    config: JobConfig
    error: str | None
    pid: int | None
    engine_pid: int | None
    run_started_at: float | None
    created_at: str
    finished_at: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        data["config"] = JobConfig.from_dict(json.loads(data["config"]))
        return cls(**data)

    @property
    def is_process_alive(self) -> bool:
        return self.pid is not None and pid_alive(self.pid)


@dataclass
class Unit:
    id: int
    subject_id: int
    position: int  # the task's index in the job's task list
    task: TaskSpec
    role: str
    status: str
    attempts: int


def pid_alive(pid: int) -> bool:
    """psutil's view (Linux and macOS alike; a zombie is not alive)."""
    from heavylift.engines.processes import pid_alive as alive

    return alive(pid)


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
                conn.execute("INSERT INTO job_documents(job_id, position, path, error) VALUES (?,?,?,?)",
                             (job_id, position, err.path, err.error))
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

    # -- reading ----------------------------------------------------------------------------
    def get(self, name_or_id: str | int) -> Job:
        row = self.db.execute("SELECT * FROM jobs WHERE name=? OR id=?", (str(name_or_id), str(name_or_id))).fetchone()
        if row is None:
            raise UsageError(f"no job named {name_or_id!r}; see `heavylift jobs`")
        return Job.from_row(row)

    def list(self) -> list[Job]:
        return [Job.from_row(r) for r in self.db.execute("SELECT * FROM jobs ORDER BY id")]

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

    # -- running ----------------------------------------------------------------------------
    def start_run(self, job: Job, engine_pid: int | None = None) -> None:
        self.db.execute("UPDATE jobs SET status='running', pid=?, engine_pid=?, run_started_at=?, error=NULL, "
                        "finished_at=NULL WHERE id=?", (os.getpid(), engine_pid, time.time(), job.id))

    def set_engine_pid(self, job: Job, engine_pid: int | None) -> None:
        self.db.execute("UPDATE jobs SET engine_pid=? WHERE id=?", (engine_pid, job.id))

    def prepare_resume(self, job: Job, retry_failed: bool = True) -> int:
        """Units a dead run left 'running' go back to 'pending' (their attempt marked interrupted)."""
        if job.status == "running" and job.is_process_alive and job.pid != os.getpid():
            raise UsageError(f"job {job.name!r} is still running (pid {job.pid}); wait for it or `heavylift cancel {job.name}`")
        with self.db.transaction() as conn:
            conn.execute("UPDATE unit_attempts SET outcome='interrupted', finished_at=? WHERE outcome IS NULL AND "
                         "unit_id IN (SELECT id FROM units WHERE job_id=?)", (time.time(), job.id))
            n = conn.execute("UPDATE units SET status='pending' WHERE job_id=? AND status='running'", (job.id,)).rowcount
            if retry_failed:
                n += conn.execute("UPDATE units SET status='pending', error=NULL, attempts=0 WHERE job_id=? "
                                  "AND status='failed'", (job.id,)).rowcount
                conn.execute("UPDATE subjects SET error=NULL, num_prompt_tokens=NULL WHERE job_id=? AND error IS NOT NULL",
                             (job.id,))
        return n

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

    def finish(self, unit_id: int, attempt_id: int, fields: dict[str, Any]) -> None:
        """running -> done with its answer, atomically."""
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.db.transaction() as conn:
            conn.execute(f"UPDATE units SET status='done', error=NULL, finished_at=?, {cols} WHERE id=? AND status='running'",
                         (time.time(), *fields.values(), unit_id))
            conn.execute("UPDATE unit_attempts SET outcome='done', finished_at=? WHERE id=?", (time.time(), attempt_id))

    def fail_attempt(self, unit_id: int, attempt_id: int, outcome: str, error: str, *, is_final: bool,
                     fields: dict[str, Any] | None = None) -> None:
        """An attempt that did not produce an answer: back to pending, or failed for good."""
        fields = fields or {}
        cols = "".join(f", {k}=?" for k in fields)
        with self.db.transaction() as conn:
            conn.execute(f"UPDATE units SET status=?, error=?, finished_at=?{cols} WHERE id=? AND status='running'",
                         ("failed" if is_final else "pending", error, time.time(), *fields.values(), unit_id))
            conn.execute("UPDATE unit_attempts SET outcome=?, error=?, finished_at=? WHERE id=?",
                         (outcome, error, time.time(), attempt_id))

    def fail_subject(self, subject_id: int, error: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE subjects SET error=? WHERE id=?", (error, subject_id))
            conn.execute("UPDATE units SET status='failed', error=?, finished_at=? WHERE subject_id=? AND status='pending'",
                         (error, time.time(), subject_id))

    def set_prompt_tokens(self, subject_id: int, n: int) -> None:
        self.db.execute("UPDATE subjects SET num_prompt_tokens=? WHERE id=?", (n, subject_id))

    def is_cancelled(self, job_id: int) -> bool:
        return self.db.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()[0] == "cancelled"

    def cancel(self, job: Job) -> int:
        with self.db.transaction() as conn:
            conn.execute("UPDATE jobs SET status='cancelled', finished_at=strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id=?",
                         (job.id,))
            states = "('pending','running')" if not job.is_process_alive else "('pending')"
            return conn.execute(f"UPDATE units SET status='cancelled' WHERE job_id=? AND status IN {states}",
                                (job.id,)).rowcount

    def end_run(self, job: Job, error: str | None = None) -> str:
        """Final job status from its units: done when nothing is left to run."""
        if self.is_cancelled(job.id):
            status = "cancelled"
            # A unit put back to pending after the cancel (its request failed) will not run either.
            self.db.execute("UPDATE units SET status='cancelled' WHERE job_id=? AND status IN ('pending','running')",
                            (job.id,))
        else:
            counts = self.counts(job.id)
            left = counts["pending"] + counts["running"]
            status = "failed" if (left or error) else "done"
        self.db.execute("UPDATE jobs SET status=?, error=?, pid=NULL, engine_pid=NULL, "
                        "finished_at=strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id=?", (status, error, job.id))
        return status
