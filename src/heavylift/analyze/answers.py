"""Turn a model's text into an answer for its task, or say why it is not one."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from heavylift.analyze.prompts import TaskSpec


def _text(spec: TaskSpec, text: str) -> tuple[Any, str | None]:
    text = text.strip()
    return text, None if text else "empty answer"


def _extract(spec: TaskSpec, text: str) -> tuple[Any, str | None]:
    import jsonschema

    try:
        value = json.loads(text)
    except ValueError as e:
        return None, f"not valid JSON ({e.msg} at char {e.pos})"
    errors = sorted(jsonschema.Draft202012Validator(spec.schema or {}).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        return None, f"does not match the schema at {where}: {errors[0].message[:200]}"
    return value, None


def _classify(spec: TaskSpec, text: str) -> tuple[Any, str | None]:
    try:
        value = json.loads(text)
    except ValueError:
        value = text.strip().strip('"').strip()
    if value not in spec.labels:
        return None, f"{str(value)[:80]!r} is not one of the labels {', '.join(spec.labels)}"
    return value, None


PARSERS: dict[str, Callable[[TaskSpec, str], tuple[Any, str | None]]] = {
    "question": _text, "summarize": _text, "extract": _extract, "classify": _classify,
}


def parse_answer(spec: TaskSpec, text: str) -> tuple[Any, str | None]:
    """(answer, None) or (None, why it is invalid)."""
    return PARSERS[spec.task](spec, text)
