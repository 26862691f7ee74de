"""A job's task list from what the user gave: questions (inline and from files), built-in tasks and
their schema or labels, checked before anything runs (a bad schema never starts a job)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heavylift.analyze.prompts import TaskSpec
from heavylift.errors import UsageError

TASKS = ("summarize", "extract", "classify")


def schema_validator(schema: dict[str, Any]):
    """The one validator class for a schema: the draft its `$schema` names, else 2020-12. Used both to
    check the schema before a job starts and to validate every answer, so the two cannot disagree."""
    import jsonschema

    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)


def load_schema(path: Path) -> dict[str, Any]:
    import jsonschema

    try:
        schema = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as e:
        raise UsageError(f"cannot read --schema {path} ({e.strerror}); check the path") from None
    except ValueError as e:
        line = f"line {e.lineno}: {e.msg}" if hasattr(e, "lineno") else str(e)
        raise UsageError(f"--schema {path} is not valid JSON ({line}); fix it before starting") from None
    if not isinstance(schema, dict):
        raise UsageError(f"--schema {path} must be a JSON object (a JSON Schema), not {type(schema).__name__}")
    try:
        schema_validator(schema).check_schema(schema)
    except jsonschema.SchemaError as e:
        where = "/".join(str(p) for p in e.path) or "(root)"
        raise UsageError(f"--schema {path} is not a valid JSON Schema at {where}: {e.message[:200]}") from None
    return schema


def read_questions(path: Path) -> list[str]:
    """One question per line; blank lines and `#` comments skipped; a UTF-8 BOM and CRLF line ends removed."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise UsageError(f"cannot read --questions {path} ({e.strerror}); check the path") from None
    except UnicodeDecodeError:
        raise UsageError(f"--questions {path} is not UTF-8 text; convert it first (e.g. `iconv -t utf-8`)") from None
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def build_tasks(asks: list[str], question_files: list[Path], task_names: list[str],
                schema: Path | None, labels: str | None) -> tuple[list[TaskSpec], list[str]]:
    """The tasks in order (questions first, each asked once), and notes for the user (repeats dropped)."""
    if schema is not None and "extract" not in task_names:
        raise UsageError("--schema goes with --task extract; add --task extract (or drop --schema)")
    if labels is not None and "classify" not in task_names:
        raise UsageError("--labels goes with --task classify; add --task classify (or drop --labels)")
    questions = [q.strip() for q in asks if q.strip()]
    for path in question_files:
        questions += read_questions(path)
    notes: list[str] = []
    seen: dict[str, int] = {}
    for q in questions:
        seen[q] = seen.get(q, 0) + 1
    for q, n in seen.items():
        if n > 1:
            notes.append(f"asked once: {q!r} was given {n} times")
    tasks = [TaskSpec("question", question=q) for q in seen]
    for task in dict.fromkeys(task_names):
        if task == "extract":
            if schema is None:
                raise UsageError("--task extract needs --schema FILE (a JSON Schema of the fields to extract)")
            tasks.append(TaskSpec("extract", schema=load_schema(schema)))
        elif task == "classify":
            names = tuple(dict.fromkeys(x.strip() for x in (labels or "").split(",") if x.strip()))
            if len(names) < 2:
                raise UsageError("--task classify needs --labels with at least two labels, e.g. --labels nda,lease,services")
            tasks.append(TaskSpec("classify", labels=names))
        else:
            tasks.append(TaskSpec(task))
    if not tasks:
        raise UsageError("nothing to do: give --ask QUESTION, --questions FILE or --task summarize|extract|classify")
    return tasks, notes
