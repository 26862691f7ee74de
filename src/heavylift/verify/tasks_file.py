"""The tasks file of `heavylift verify --tasks FILE`: what to ask of every document, one task a line.

    # comments and blank lines are ignored
    ask: What is the notice period?
    ask: Who are the parties?
    extract: contract_schema.json          (a JSON Schema file, relative to the tasks file)
    classify: nda, lease, services agreement
    summarize

A file whose first non-blank character is `[` is read as JSON instead: a list of objects
{"ask": "..."} | {"extract": "schema.json" or {schema}} | {"classify": ["a", "b"] or "a, b"} |
{"summarize": true}. Errors name the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heavylift.analyze.prompts import TaskSpec
from heavylift.errors import UsageError

KINDS = ("ask", "extract", "classify", "summarize")


def read_tasks(path: Path) -> list[TaskSpec]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read --tasks {path} ({e.strerror}); check the path") from None
    except UnicodeDecodeError:
        raise UsageError(f"--tasks {path} is not UTF-8 text") from None
    tasks = _from_json(path, text) if text.lstrip().startswith("[") else _from_lines(path, text)
    if not tasks:
        raise UsageError(f"--tasks {path} has no tasks; write lines like `ask: What is the notice period?`")
    return tasks


def _from_lines(path: Path, text: str) -> list[TaskSpec]:
    tasks: list[TaskSpec] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kind, sep, value = line.partition(":")
        kind = kind.strip().lower()
        if kind == "summarize" and not value.strip():
            tasks.append(TaskSpec("summarize"))
            continue
        if not sep or kind not in KINDS:
            raise UsageError(f"{path} line {lineno}: {line[:60]!r} is not a task; start it with one of "
                             f"{', '.join(k + ':' for k in KINDS[:3])} or write `summarize`")
        tasks.append(_task(path, lineno, kind, value.strip()))
    return tasks


def _from_json(path: Path, text: str) -> list[TaskSpec]:
    try:
        items = json.loads(text)
    except ValueError as e:
        raise UsageError(f"{path} line {e.lineno}: not valid JSON ({e.msg}); fix it or use the one-task-a-line format") from None
    if not isinstance(items, list):
        raise UsageError(f"{path}: a JSON tasks file is a list of objects")
    tasks = []
    for i, item in enumerate(items, start=1):
        where = _json_line(text, i)
        if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in KINDS:
            raise UsageError(f"{path} line {where}: task {i} must be one of "
                             + ", ".join(f'{{"{k}": ...}}' for k in KINDS))
        kind, value = next(iter(item.items()))
        tasks.append(_task(path, where, kind, value))
    return tasks


def _json_line(text: str, index: int) -> int:
    """The line where the index-th object of the top-level list starts (for messages)."""
    depth, count = 0, 0
    for pos, ch in enumerate(text):
        if ch in "[{":
            depth += 1
            if ch == "{" and depth == 2:
                count += 1
                if count == index:
                    return text.count("\n", 0, pos) + 1
        elif ch in "]}":
            depth -= 1
    return 1


def _task(path: Path, lineno: int, kind: str, value: Any) -> TaskSpec:
    where = f"{path} line {lineno}"
    if kind == "ask":
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{where}: `ask:` needs a question after it")
        return TaskSpec("question", question=value.strip())
    if kind == "summarize":
        return TaskSpec("summarize")
    if kind == "classify":
        labels = value if isinstance(value, list) else str(value).split(",")
        labels = tuple(dict.fromkeys(str(x).strip() for x in labels if str(x).strip()))
        if len(labels) < 2:
            raise UsageError(f"{where}: `classify:` needs at least two labels, e.g. `classify: nda, lease, services`")
        return TaskSpec("classify", labels=labels)
    schema = value if isinstance(value, dict) else _schema_file(where, path.parent, value)
    _check_schema(where, schema)
    return TaskSpec("extract", schema=schema)


def _schema_file(where: str, base: Path, value: Any) -> dict:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: `extract:` needs a JSON Schema file after it")
    schema_path = (base / value.strip()).expanduser()
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"{where}: cannot read the schema {schema_path} ({e.strerror})") from None
    except ValueError as e:
        raise UsageError(f"{where}: {schema_path} line {e.lineno} is not valid JSON ({e.msg})") from None
    if not isinstance(schema, dict):
        raise UsageError(f"{where}: {schema_path} must be a JSON object (a JSON Schema)")
    return schema


def _check_schema(where: str, schema: dict) -> None:
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as e:
        at = "/".join(str(p) for p in e.path) or "(root)"
        raise UsageError(f"{where}: not a valid JSON Schema at {at}: {e.message[:200]}") from None
