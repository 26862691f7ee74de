"""Prompts and tasks. The system prompt and the document come first and never vary by task, so
every task on a document shares a byte-identical prefix the engine's prompt cache can reuse;
the task's own words come last."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SYSTEM_PROMPT = ("You are a careful analyst. Answer only from the documents given. Quote the text "
                 "and cite the page when it helps; say \"not stated\" when the documents do not say.")


@dataclass(frozen=True)
class TaskSpec:
    """One thing to do with every subject: a free question or a built-in task."""

    task: str  # question | summarize | extract | classify
    question: str | None = None
    schema: dict[str, Any] | None = None  # extract
    labels: tuple[str, ...] = ()  # classify

    @property
    def title(self) -> str:
        return self.question if self.task == "question" else self.task

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        return cls(task=data["task"], question=data.get("question"), schema=data.get("schema"),
                   labels=tuple(data.get("labels") or ()))

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "question": self.question, "schema": self.schema, "labels": list(self.labels)}


def _question(spec: TaskSpec) -> str:
    return f"Question: {spec.question}"


def _summarize(spec: TaskSpec) -> str:
    return ("Task: summarize the document(s) above in a short paragraph: what it is, who the parties "
            "or authors are, and the main points.")


def _extract(spec: TaskSpec) -> str:
    return ("Task: extract the information described by this JSON Schema from the document(s) above. "
            "Answer with one JSON object only.\nSchema: " + json.dumps(spec.schema, separators=(",", ":")))


def _classify(spec: TaskSpec) -> str:
    return ("Task: classify the document(s) above as exactly one of: " + ", ".join(spec.labels)
            + ". Answer with the label only.")


# task -> the words after the document. A registry, so a new task is one entry here.
INSTRUCTIONS: dict[str, Callable[[TaskSpec], str]] = {
    "question": _question, "summarize": _summarize, "extract": _extract, "classify": _classify,
}


def response_schema(spec: TaskSpec) -> dict[str, Any] | None:
    """The JSON Schema the engine constrains the output to (llama-server turns `json_schema` into a
    grammar: tools/server/server-schema.cpp, json_schema_to_grammar)."""
    if spec.task == "extract":
        return spec.schema
    if spec.task == "classify":
        return {"type": "string", "enum": list(spec.labels)}
    return None


def messages_for(body: str, spec: TaskSpec, note: str = "") -> list[dict[str, str]]:
    """System, then the document, then the task: the prefix up to the task is shared by all tasks."""
    instruction = INSTRUCTIONS[spec.task](spec)
    if note:
        instruction = f"{note}\n{instruction}"
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"{body}\n\n{instruction}"}]


MAP_NOTE = ("Note: this is part {index} of {total} of a longer document. Answer from this part only; "
            "if this part does not contain the answer, say \"not in this part\".")


def reduce_body(name: str, spec: TaskSpec, partials: list[str]) -> str:
    """--split's reduce step: the per-chunk answers, as the 'document' for the final answer."""
    parts = "\n\n".join(f"[part {i}]\n{text}" for i, text in enumerate(partials, start=1))
    return (f'<partial-answers document="{name}" parts="{len(partials)}">\n'
            f"Each part of the document was asked the task below separately; these are the answers.\n"
            f"Combine them into one answer for the whole document, ignoring parts that say it is not there.\n"
            f"{parts}\n</partial-answers>")
