"""Turn a model's text into an answer for its task, or say why it is not one."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from heavylift.analyze.prompts import TaskSpec
from heavylift.analyze.tasks import schema_validator


@dataclass(frozen=True)
class Parsed:
    answer: Any
    error: str | None = None  # why the text is not an answer
    is_retryable: bool = True  # varied sampling may fix it (a cut-off answer needs a larger limit)


def _text(spec: TaskSpec, text: str) -> Parsed:
    text = text.strip()
    return Parsed(text, None if text else "empty answer")


def _extract(spec: TaskSpec, text: str) -> Parsed:
    try:
        value = json.loads(text)
    except ValueError as e:
        return Parsed(None, f"not valid JSON ({e.msg} at char {e.pos})")
    schema = spec.schema or {}
    errors = sorted(schema_validator(schema)(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        return Parsed(None, f"does not match the schema at {where}: {errors[0].message[:200]}")
    return Parsed(value)


def _classify(spec: TaskSpec, text: str) -> Parsed:
    try:
        value = json.loads(text)
    except ValueError:
        value = text.strip().strip('"').strip()
    if value not in spec.labels:
        return Parsed(None, f"{str(value)[:80]!r} is not one of the labels {', '.join(spec.labels)}")
    return Parsed(value)


PARSERS: dict[str, Callable[[TaskSpec, str], Parsed]] = {
    "question": _text, "summarize": _text, "extract": _extract, "classify": _classify,
}
STRUCTURED = {"extract", "classify"}  # a cut-off answer is unusable, not just short


def parse_answer(spec: TaskSpec, text: str, finish_reason: str | None = None, max_tokens: int | None = None) -> Parsed:
    """The answer, or why it is invalid. An extraction or label cut off by the token limit is reported
    as that (the same limit would cut the retry too), not as malformed JSON."""
    if finish_reason == "length" and spec.task in STRUCTURED:
        limit = f" of {max_tokens}" if max_tokens else ""
        return Parsed(None, f"the answer was cut off at the --max-tokens limit{limit} before it was complete; "
                            f"raise --max-tokens (e.g. to {max_tokens * 2 if max_tokens else 'twice as many'}) "
                            "and resume", is_retryable=False)
    return PARSERS[spec.task](spec, text)
