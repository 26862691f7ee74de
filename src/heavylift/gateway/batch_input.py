"""Reading a batch input file (OpenAI's JSONL: one `{custom_id, method, url, body}` per line):
validation the way OpenAI reports it, and the prompt-prefix groups that run back to back on a slot.

Two passes over the file so a 200 MB input never sits in memory whole: `scan` checks every line and
groups line numbers by prefix; `bodies` reads the file again when the requests are stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENDPOINTS = ("/v1/chat/completions", "/v1/completions")
MAX_REQUESTS = 50_000  # OpenAI: "The file can contain up to 50,000 requests"
MAX_ERRORS = 100  # validation errors kept per batch (the first ones, by line)
CUSTOM_ID_MAX_CHARS = 512


@dataclass
class BatchError:
    """One entry of a failed batch's `errors.data` (OpenAI's BatchError)."""

    code: str
    message: str
    param: str | None = None
    line: int | None = None


@dataclass
class PrefixGroup:
    """Requests whose prompts start with the same system prompt + document: one engine slot
    computes that prefix once and answers them all back to back."""

    key_text: str
    lines: list[int] = field(default_factory=list)
    custom_ids: list[str] = field(default_factory=list)


@dataclass
class ScanResult:
    num_requests: int = 0
    model: str | None = None
    errors: list[BatchError] = field(default_factory=list)
    groups: list[PrefixGroup] = field(default_factory=list)


def _text(content: Any) -> str:
    """A message's text: a string, or the text parts of a content list (images etc. as JSON)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) and p.get("type") == "text" else json.dumps(p)
                       for p in content)
    return json.dumps(content)


def prefix_key(endpoint: str, body: dict[str, Any]) -> str:
    """What requests must share to share a cached prefix: every message but the last in full, and
    the last one up to its final paragraph break (a document followed by its question). The same
    document with the same system prompt gives the same key in any batch, so a saved KV matches."""
    if endpoint == "/v1/chat/completions":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return ""
        parts = [f"<{m.get('role', '')}>{_text(m.get('content'))}" if isinstance(m, dict) else json.dumps(m)
                 for m in messages]
        last = parts[-1]
        cut = last.rfind("\n\n")
        return "\n".join(parts[:-1] + ([last[:cut]] if cut > 0 else []))
    prompt = body.get("prompt")
    text = prompt if isinstance(prompt, str) else json.dumps(prompt)
    cut = text.rfind("\n\n")
    return text[:cut] if cut > 0 else ""


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if raw.strip():
                yield number, raw


def _check_line(raw: bytes, number: int, endpoint: str) -> tuple[dict[str, Any] | None, BatchError | None]:
    try:
        item = json.loads(raw)
    except ValueError:
        return None, BatchError("invalid_json_line", "This line is not parseable as valid JSON.", None, number)
    if not isinstance(item, dict):
        return None, BatchError("invalid_request", "Each line must be a JSON object with custom_id, method, url "
                                "and body.", None, number)
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return None, BatchError("invalid_request", "Missing required parameter: 'custom_id' (a non-empty string).",
                                "custom_id", number)
    if len(custom_id) > CUSTOM_ID_MAX_CHARS:
        return None, BatchError("invalid_request", f"'custom_id' is longer than {CUSTOM_ID_MAX_CHARS} characters.",
                                "custom_id", number)
    if item.get("method") != "POST":
        return None, BatchError("invalid_request", "Invalid value for 'method': only 'POST' is supported.",
                                "method", number)
    url = item.get("url")
    if not isinstance(url, str):
        return None, BatchError("invalid_request", "Missing required parameter: 'url'.", "url", number)
    if url != endpoint:
        return None, BatchError("url_mismatch", f"The url '{url[:100]}' does not match the batch endpoint "
                                f"'{endpoint}'.", "url", number)
    if not isinstance(item.get("body"), dict):
        return None, BatchError("invalid_request", "Missing required parameter: 'body' (a JSON object).",
                                "body", number)
    return item, None


def scan(path: Path, endpoint: str) -> ScanResult:
    """Check every line; group valid requests by prompt prefix (groups in first-appearance order)."""
    result = ScanResult()
    seen: set[str] = set()
    by_key: dict[str, PrefixGroup] = {}

    def add_error(error: BatchError) -> None:
        if len(result.errors) < MAX_ERRORS:
            result.errors.append(error)

    for number, raw in _lines(path):
        item, error = _check_line(raw, number, endpoint)
        if error:
            add_error(error)
            continue
        custom_id = item["custom_id"]
        if custom_id in seen:
            add_error(BatchError("duplicate_custom_id", "The custom_id for this request is a duplicate of another "
                                 "request. The custom_id parameter must be unique for each request in a batch.",
                                 "custom_id", number))
            continue
        seen.add(custom_id)
        model = item["body"].get("model")
        if isinstance(model, str):
            if result.model is None:
                result.model = model
            elif model != result.model:
                add_error(BatchError("model_mismatch", f"The model '{model[:100]}' differs from the batch's model "
                                     f"'{result.model[:100]}'; a batch uses one model.", "body.model", number))
                continue
        result.num_requests += 1
        key = prefix_key(endpoint, item["body"])
        digest = hashlib.sha256(key.encode()).hexdigest()
        group = by_key.get(digest)
        if group is None:
            group = by_key[digest] = PrefixGroup(key)
            result.groups.append(group)
        group.lines.append(number)
        group.custom_ids.append(custom_id)
    if result.num_requests > MAX_REQUESTS:
        result.errors.insert(0, BatchError("too_many_tasks", f"The batch has {result.num_requests} requests; "
                                           f"the limit is {MAX_REQUESTS:,}. Split the file into smaller batches."))
    if result.num_requests == 0 and not result.errors:
        result.errors.append(BatchError("empty_file", "The batch input file is empty: it holds no requests."))
    return result


def bodies(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, body) of every line, for a file `scan` found valid."""
    for number, raw in _lines(path):
        yield number, json.loads(raw)["body"]
