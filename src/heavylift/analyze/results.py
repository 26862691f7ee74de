"""A job's results as rows (one per unit, plus one per input that could not be read), written as
JSONL, CSV or Markdown. The row is a dataclass, so every format carries the same fields."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from heavylift.analyze.jobs import Job, JobStore


@dataclass
class ResultRow:
    document: str  # the subject: a file name, "a + b" for --together
    question: str | None  # the question, or the task name
    task: str | None
    answer: Any  # text; the parsed object for extract; the label for classify
    status: str
    error: str | None
    prompt_tokens: int | None
    cached_tokens: int | None
    completion_tokens: int | None
    prefill_ms: float | None
    decode_ms: float | None
    is_kv_restored: bool | None
    attempts: int | None
    model: str | None
    quantization: str | None
    engine_version: str | None
    paths: list[str]  # provenance: the files behind the subject
    sha256: list[str]  # their content hashes
    raw_text: str | None  # kept for failed extractions (what the model said)


def result_rows(store: JobStore, job: Job) -> list[ResultRow]:
    docs = {r["id"]: r for r in store.db.execute("SELECT * FROM job_documents WHERE job_id=?", (job.id,))}
    rows: list[ResultRow] = []
    query = ("SELECT u.*, s.name AS subject_name, s.document_ids FROM units u JOIN subjects s ON s.id=u.subject_id "
             "WHERE u.job_id=? AND u.role!='map' ORDER BY s.position, u.position")
    for r in store.db.execute(query, (job.id,)):
        spec = json.loads(r["question"])
        ids = json.loads(r["document_ids"])
        rows.append(ResultRow(
            document=r["subject_name"], question=spec.get("question") or spec["task"], task=spec["task"],
            answer=json.loads(r["answer"]) if r["answer"] is not None else None, status=r["status"],
            error=r["error"], prompt_tokens=r["prompt_tokens"], cached_tokens=r["cached_tokens"],
            completion_tokens=r["completion_tokens"], prefill_ms=r["prefill_ms"], decode_ms=r["decode_ms"],
            is_kv_restored=bool(r["is_kv_restored"]) if r["is_kv_restored"] is not None else None,
            attempts=r["attempts"], model=r["model"], quantization=r["quantization"],
            engine_version=r["engine_version"], paths=[docs[i]["path"] for i in ids if i in docs],
            sha256=[docs[i]["sha256"] for i in ids if i in docs],
            raw_text=r["raw_text"] if r["status"] != "done" else None))
    for d in docs.values():
        if d["error"]:
            rows.append(ResultRow(document=d["path"], question=None, task=None, answer=None, status="failed",
                                  error=d["error"], prompt_tokens=None, cached_tokens=None, completion_tokens=None,
                                  prefill_ms=None, decode_ms=None, is_kv_restored=None, attempts=None, model=None,
                                  quantization=None, engine_version=None, paths=[d["path"]], sha256=[], raw_text=None))
    return rows


def to_jsonl(rows: list[ResultRow]) -> str:
    return "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in rows)


def to_csv(rows: list[ResultRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    names = [f.name for f in fields(ResultRow)]
    writer.writerow(names)
    for row in rows:
        writer.writerow([_cell(getattr(row, n)) for n in names])
    return out.getvalue()


def to_markdown(rows: list[ResultRow]) -> str:
    cols = ["document", "question", "answer", "status", "prompt_tokens", "cached_tokens", "completion_tokens"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        values = [_cell(getattr(row, c)) if c != "answer" or row.status == "done" else f"({row.error})" for c in cols]
        lines.append("| " + " | ".join(v.replace("|", "\\|").replace("\n", "<br>") for v in values) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


FORMATS: dict[str, Callable[[list[ResultRow]], str]] = {"jsonl": to_jsonl, "csv": to_csv, "md": to_markdown}
