"""Batches of the OpenAI Batch API over the durable job store. All SQL for `batches` and
`batch_requests` lives here; the units themselves go through JobStore.

A batch's requests are the units of a job (task 'request'). A unit's result is stored with it, in
the transaction that makes it done or failed: `units.answer` holds the engine's response body
(done), or `{"status_code", "body"}` of the engine's refusal (failed). The output and error files
are derived from those rows at finalize, in input order, so every input line appears exactly once
in them however often the process was killed, and finalizing again rewrites the same files.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heavylift.analyze.jobs import JobConfig, JobStore
from heavylift.analyze.prompts import TaskSpec
from heavylift.gateway.batch_input import BatchError, ScanResult, bodies
from heavylift.gateway.file_store import FileStore
from heavylift.store import Database

ID_PATTERN = re.compile(r"batch_[A-Za-z0-9]{8,64}")
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
TERMINAL = ("completed", "failed", "expired", "cancelled")
REQUEST_TASK = "request"
_WINDOW = re.compile(r"(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW_S = 30 * 86400
METADATA_MAX_KEYS, METADATA_KEY_CHARS, METADATA_VALUE_CHARS = 16, 64, 512

EXPIRED_ERROR = {"code": "batch_expired",
                 "message": "This request could not be executed before the completion window expired."}
CANCELLED_ERROR = {"code": "batch_cancelled", "message": "This request was not executed: the batch was cancelled."}


def window_seconds(window: str) -> int | None:
    """OpenAI accepts only '24h'; locally any '<N>s|m|h|d' up to 30 days (short windows for tests)."""
    m = _WINDOW.fullmatch(window or "")
    if not m:
        return None
    seconds = int(m[1]) * _UNIT_S[m[2]]
    return seconds if 0 < seconds <= MAX_WINDOW_S else None


@dataclass
class Batch:
    id: str
    origin: str
    endpoint: str
    input_file_id: str
    completion_window: str
    status: str
    metadata: dict[str, str] | None
    errors: list[dict[str, Any]] | None
    job_id: int | None
    model: str | None
    output_file_id: str | None
    error_file_id: str | None
    num_requests: int
    created_at: int
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    counts: dict[str, int] = field(default_factory=dict)  # unit status -> number
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    def request_counts(self) -> dict[str, int]:
        return {"total": self.num_requests, "completed": self.counts.get("done", 0),
                "failed": self.counts.get("failed", 0)}

    def to_openai(self) -> dict[str, Any]:
        """OpenAI's Batch object."""
        usage = None
        if self.usage:
            usage = {"input_tokens": self.usage["prompt"],
                     "input_tokens_details": {"cached_tokens": self.usage["cached"]},
                     "output_tokens": self.usage["completion"],
                     "output_tokens_details": {"reasoning_tokens": 0},
                     "total_tokens": self.usage["prompt"] + self.usage["completion"]}
        return {
            "id": self.id, "object": "batch", "endpoint": self.endpoint, "model": self.model,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id, "completion_window": self.completion_window,
            "status": self.status, "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
            "created_at": self.created_at, "in_progress_at": self.in_progress_at, "expires_at": self.expires_at,
            "finalizing_at": self.finalizing_at, "completed_at": self.completed_at, "failed_at": self.failed_at,
            "expired_at": self.expired_at, "cancelling_at": self.cancelling_at, "cancelled_at": self.cancelled_at,
            "request_counts": self.request_counts(), "metadata": self.metadata, "usage": usage,
        }


def new_batch_id() -> str:
    return "batch_" + secrets.token_hex(12)


def _derived_id(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


class BatchStore:
    def __init__(self, db: Database | None = None):
        self.db = db or Database()
        self.jobs = JobStore(self.db)
        self.files = FileStore(self.db)

    # -- creating ---------------------------------------------------------------------------
    def create(self, endpoint: str, input_file_id: str, completion_window: str, window_s: int,
               metadata: dict[str, str] | None, origin: str = "api", model: str | None = None) -> Batch:
        now = int(time.time())
        batch_id = new_batch_id()
        self.db.execute(
            "INSERT INTO batches(id, origin, endpoint, input_file_id, completion_window, status, metadata, model, "
            "created_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (batch_id, origin, endpoint, input_file_id, completion_window, "validating",
             json.dumps(metadata) if metadata is not None else None, model, now, now + window_s))
        return self.get(batch_id)

    def materialize(self, batch: Batch, scan: ScanResult, path: Path, config: JobConfig) -> Batch:
        """validating -> in_progress: the job, one unit per request and the request bodies, atomically."""
        groups = [(f"prefix {i + 1} ({len(g.lines)} requests)", g.key_text,
                   [TaskSpec(REQUEST_TASK, question=cid) for cid in g.custom_ids]) for i, g in enumerate(scan.groups)]
        where: dict[int, tuple[int, int]] = {}
        for gi, group in enumerate(scan.groups):
            for pos, line in enumerate(group.lines):
                where[line] = (gi, pos)
        with self.db.transaction() as conn:
            if conn.execute("SELECT status FROM batches WHERE id=?", (batch.id,)).fetchone()[0] != "validating":
                return self.get(batch.id)  # cancelled meanwhile
            job_id, unit_ids = self.jobs.add_job(conn, batch.id, config, groups)
            for line, body in bodies(path):
                gi, pos = where[line]
                conn.execute("INSERT INTO batch_requests(unit_id, batch_id, line, custom_id, body) VALUES (?,?,?,?,?)",
                             (unit_ids[gi][pos], batch.id, line, scan.groups[gi].custom_ids[pos], json.dumps(body)))
            conn.execute("UPDATE batches SET status='in_progress', in_progress_at=?, job_id=?, num_requests=?, "
                         "model=coalesce(model, ?) WHERE id=?",
                         (int(time.time()), job_id, scan.num_requests, scan.model, batch.id))
        return self.get(batch.id)

    def fail_validation(self, batch: Batch, errors: list[BatchError]) -> None:
        data = [{"code": e.code, "message": e.message, "param": e.param, "line": e.line} for e in errors]
        self.db.execute("UPDATE batches SET status='failed', failed_at=?, errors=? WHERE id=? AND status='validating'",
                        (int(time.time()), json.dumps(data), batch.id))

    # -- reading ----------------------------------------------------------------------------
    def get(self, batch_id: str) -> Batch | None:
        if not ID_PATTERN.fullmatch(batch_id or ""):
            return None
        row = self.db.execute("SELECT * FROM batches WHERE id=?", (batch_id,)).fetchone()
        return self._batch(row) if row else None

    def list(self, after: str | None = None, limit: int = 20) -> tuple[list[Batch], bool]:
        """Newest first; `after` is the last id of the previous page."""
        sql, params = "SELECT * FROM batches", []
        anchor = self.db.execute("SELECT created_at, rowid FROM batches WHERE id=?", (after,)).fetchone() if after else None
        if anchor:  # rowid breaks ties within a second in creation order
            sql += " WHERE created_at < ? OR (created_at = ? AND rowid < ?)"
            params = [anchor[0], anchor[0], anchor[1]]
        rows = self.db.execute(sql + " ORDER BY created_at DESC, rowid DESC LIMIT ?", [*params, limit + 1]).fetchall()
        return [self._batch(r) for r in rows[:limit]], len(rows) > limit

    def active(self) -> list[Batch]:
        rows = self.db.execute(f"SELECT * FROM batches WHERE status IN {ACTIVE} ORDER BY created_at, rowid").fetchall()
        return [self._batch(r) for r in rows]

    def for_job(self, job_id: int) -> Batch | None:
        row = self.db.execute("SELECT * FROM batches WHERE job_id=?", (job_id,)).fetchone()
        return self._batch(row) if row else None

    def _batch(self, row: sqlite3.Row) -> Batch:
        data = dict(row)
        data["metadata"] = json.loads(data["metadata"]) if data["metadata"] else None
        data["errors"] = json.loads(data["errors"]) if data["errors"] else None
        batch = Batch(**data)
        if batch.job_id is not None:
            batch.counts = {r[0]: r[1] for r in self.db.execute(
                "SELECT status, count(*) FROM units WHERE job_id=? GROUP BY status", (batch.job_id,))}
            u = self.db.execute("SELECT coalesce(sum(prompt_tokens),0), coalesce(sum(cached_tokens),0), "
                                "coalesce(sum(completion_tokens),0) FROM units WHERE job_id=? AND status='done'",
                                (batch.job_id,)).fetchone()
            batch.usage = {"prompt": u[0], "cached": u[1], "completion": u[2]}
        return batch

    def requests(self, batch: Batch, limit: int = 500, offset: int = 0) -> list[sqlite3.Row]:
        """The requests with their units' state and results, in input order (for the dashboard)."""
        return self.db.execute(
            "SELECT r.line, r.custom_id, r.unit_id, u.status, u.error, u.prompt_tokens, u.cached_tokens, "
            "u.completion_tokens, u.prefill_ms, u.decode_ms, u.slot_id, u.is_kv_restored, u.attempts, u.raw_text "
            "FROM batch_requests r JOIN units u ON u.id=r.unit_id WHERE r.batch_id=? ORDER BY r.line LIMIT ? OFFSET ?",
            (batch.id, limit, offset)).fetchall()

    def request(self, batch: Batch, unit_id: int) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT r.*, u.status, u.error, u.answer, u.raw_text, u.prompt_tokens, u.cached_tokens, "
            "u.completion_tokens, u.prefill_ms, u.decode_ms, u.slot_id, u.is_kv_restored, u.attempts "
            "FROM batch_requests r JOIN units u ON u.id=r.unit_id WHERE r.batch_id=? AND r.unit_id=?",
            (batch.id, unit_id)).fetchone()

    def request_body(self, unit_id: int) -> dict[str, Any]:
        return json.loads(self.db.execute("SELECT body FROM batch_requests WHERE unit_id=?", (unit_id,)).fetchone()[0])

    # -- state changes ----------------------------------------------------------------------
    def request_cancel(self, batch: Batch) -> Batch:
        """in flight -> cancelling; the runner finishes the requests in flight and finalizes."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE batches SET status='cancelling', cancelling_at=? WHERE id=? AND status IN "
                         "('validating','in_progress')", (int(time.time()), batch.id))
        if batch.job_id is not None:
            self.jobs.cancel(self.jobs.get(batch.job_id))
        return self.get(batch.id)

    def set_status(self, batch: Batch, status: str) -> None:
        column = {"finalizing": "finalizing_at", "in_progress": "in_progress_at"}[status]
        self.db.execute(f"UPDATE batches SET status=?, {column}=coalesce({column}, ?) WHERE id=?",
                        (status, int(time.time()), batch.id))

    def finalize(self, batch: Batch, final_status: str) -> Batch:
        """Write the output and error files from the database and close the batch (idempotent)."""
        reason = {"expired": EXPIRED_ERROR, "cancelled": CANCELLED_ERROR}.get(final_status, CANCELLED_ERROR)
        output_id = error_id = None
        if batch.job_id is not None:
            if self._count(batch, "done"):
                output_id = _derived_id("file-", batch.id, "output")
                self.files.write_derived(output_id, f"{batch.id}_output.jsonl", "batch_output",
                                         self._lines(batch, ok=True, reason=reason))
            if self._count(batch, "done", negate=True):
                error_id = _derived_id("file-", batch.id, "errors")
                self.files.write_derived(error_id, f"{batch.id}_error.jsonl", "batch_output",
                                         self._lines(batch, ok=False, reason=reason))
        column = {"completed": "completed_at", "expired": "expired_at", "cancelled": "cancelled_at",
                  "failed": "failed_at"}[final_status]
        now = int(time.time())
        self.db.execute(f"UPDATE batches SET status=?, {column}=?, finalizing_at=coalesce(finalizing_at, ?), "
                        "output_file_id=?, error_file_id=? WHERE id=?",
                        (final_status, now, now, output_id, error_id, batch.id))
        return self.get(batch.id)

    def _count(self, batch: Batch, status: str, negate: bool = False) -> int:
        op = "!=" if negate else "="
        return self.db.execute(f"SELECT count(*) FROM units WHERE job_id=? AND status {op} ?",
                               (batch.job_id, status)).fetchone()[0]

    def result_lines(self, batch: Batch) -> Iterator[str]:
        """Every request's line, answered or not, in input order (run-batch's single output file)."""
        reason = EXPIRED_ERROR if batch.status == "expired" else CANCELLED_ERROR
        return self._lines(batch, None, reason)

    def _lines(self, batch: Batch, ok: bool | None, reason: dict[str, str]) -> Iterator[str]:
        where = "" if ok is None else ("AND u.status = 'done'" if ok else "AND u.status != 'done'")
        rows = self.db.execute(
            f"SELECT r.custom_id, u.status, u.answer, u.error FROM batch_requests r JOIN units u ON u.id=r.unit_id "
            f"WHERE r.batch_id=? {where} ORDER BY r.line", (batch.id,))
        for custom_id, status, answer, error in rows:
            line_id = _derived_id("batch_req_", batch.id, custom_id)
            request_id = _derived_id("req_", batch.id, custom_id)
            if status == "done":
                response = {"status_code": 200, "request_id": request_id, "body": json.loads(answer)}
                item = {"id": line_id, "custom_id": custom_id, "response": response, "error": None}
            elif status == "failed" and answer:
                refused = json.loads(answer)
                response = {"status_code": refused["status_code"], "request_id": request_id, "body": refused["body"]}
                item = {"id": line_id, "custom_id": custom_id, "response": response, "error": None}
            elif status == "failed":
                item = {"id": line_id, "custom_id": custom_id, "response": None,
                        "error": {"code": "engine_error", "message": error or "the request failed"}}
            else:  # never ran: cancelled or expired
                item = {"id": line_id, "custom_id": custom_id, "response": None, "error": reason}
            yield json.dumps(item, ensure_ascii=False)
