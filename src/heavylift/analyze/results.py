"""A job's results as rows (one per unit, plus one per input that was not analysed), written as
JSONL, CSV or Markdown. The row is a dataclass, so every format carries the same fields."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from heavylift import paths
from heavylift.analyze.jobs import Job, JobStore
from heavylift.errors import UsageError


@dataclass
class ResultRow:
    document: str  # the subject: its shortest distinguishing path, "a + b" for --together
    question: str | None  # the question, or the task name
    task: str | None
    answer: Any  # text; the parsed object for extract; the label for classify
    status: str  # done | failed | pending | cancelled; inputs not analysed: skipped | duplicate
    error: str | None
    prompt_tokens: int | None  # with --split: the map parts plus the reduce step
    cached_tokens: int | None
    completion_tokens: int | None
    prefill_ms: float | None
    decode_ms: float | None
    is_kv_restored: bool | None  # the prefix came from a saved KV file (confirmed by the cached count)
    attempts: int | None
    model: str | None
    quantization: str | None
    engine_version: str | None
    paths: list[str]  # provenance: the files behind the subject
    sha256: list[str]  # their content hashes
    raw_text: str | None  # kept for failed extractions (what the model said)
    finish_reason: str | None = None  # stop | length (the answer was cut at --max-tokens)
    parts: int | None = None  # --split: how many chunks the document was answered in
    duplicate_of: str | None = None  # a duplicate input: the file it repeats


def result_rows(store: JobStore, job: Job) -> list[ResultRow]:
    docs = {d["id"]: d for d in store.documents(job.id)}
    rows: list[ResultRow] = []
    for r in store.result_units(job.id):
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
            raw_text=r["raw_text"] if r["status"] != "done" else None, finish_reason=r["finish_reason"],
            parts=r["num_parts"] or None))
    for d in docs.values():
        if d["status"]:
            rows.append(ResultRow(document=d["path"], question=None, task=None, answer=None, status=d["status"],
                                  error=d["error"], prompt_tokens=None, cached_tokens=None, completion_tokens=None,
                                  prefill_ms=None, decode_ms=None, is_kv_restored=None, attempts=None, model=None,
                                  quantization=None, engine_version=None, paths=[d["path"]], sha256=[], raw_text=None,
                                  duplicate_of=d["duplicate_of"]))
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
        values = [_cell(getattr(row, c)) for c in cols]
        if row.status != "done":
            values[2] = f"({row.error})"
        elif row.finish_reason == "length":
            values[2] += " (cut at --max-tokens)"
        lines.append("| " + " | ".join(v.replace("|", "\\|").replace("\n", "<br>") for v in values) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


FORMATS: dict[str, Callable[[list[ResultRow]], str]] = {"jsonl": to_jsonl, "csv": to_csv, "md": to_markdown}
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".md": "md", ".markdown": "md"}


def output_format(out: Path | None, given: str | None) -> str:
    """The format to write: --format, else the --out file's extension, else JSONL; a --format that
    contradicts the extension, or an extension we cannot tell, is refused rather than guessed."""
    inferred = EXTENSIONS.get(out.suffix.lower()) if out else None
    if given and inferred and given != inferred:
        raise UsageError(f"--format {given} does not match --out {out.name} (a .{out.suffix.lstrip('.')} file); "
                         f"drop --format or name the file {out.stem}.{given}")
    if given:
        return given
    if out and inferred is None:
        raise UsageError(f"cannot tell the format from --out {out.name}; name it .jsonl, .csv or .md, or pass --format")
    return inferred or "jsonl"


def export_results(store: JobStore, job: Job, out: Path | None = None, fmt: str = "jsonl") -> str:
    """The results as text; written to `out` when given (the default export sits next to the database)."""
    text = FORMATS[fmt](result_rows(store, job))
    if out is not None:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write {out} ({e.strerror}); choose another --out") from None
    return text


def default_results_path(job: Job) -> Path:
    folder = paths.data_dir() / "results"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{job.name}.jsonl"
