"""Batch input checks without an engine: OpenAI's error codes with line numbers, prefix groups."""

from __future__ import annotations

import json

from heavylift.gateway.batch_input import MAX_REQUESTS, prefix_key, scan
from heavylift.gateway.batch_store import window_seconds
from tests.gateway.conftest import jsonl, request_line

CHAT = "/v1/chat/completions"


def _scan(tmp_path, items):
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(items))
    return scan(path, CHAT)


def test_errors_carry_codes_and_line_numbers(tmp_path):
    items = [request_line("a", "q1"), "{not json", request_line("a", "q2"),
             {**request_line("b", "q"), "url": "/v1/embeddings"}, {**request_line("c", "q"), "method": "GET"},
             {"custom_id": "d", "method": "POST", "url": CHAT}, ["a list"], {**request_line("", "q")}]
    result = _scan(tmp_path, items)
    got = [(e.code, e.line) for e in result.errors]
    assert got == [("invalid_json_line", 2), ("duplicate_custom_id", 3), ("url_mismatch", 4),
                   ("invalid_request", 5), ("invalid_request", 6), ("invalid_request", 7), ("invalid_request", 8)]
    assert result.errors[0].message == "This line is not parseable as valid JSON."


def test_blank_lines_are_skipped_and_lines_still_count(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("\n" + json.dumps(request_line("a", "q")) + "\n\n{bad\n")
    result = scan(path, CHAT)
    assert result.num_requests == 1 and [(e.code, e.line) for e in result.errors] == [("invalid_json_line", 4)]


def test_empty_and_too_many(tmp_path):
    assert [e.code for e in _scan(tmp_path, []).errors] == ["empty_file"]
    line = json.dumps({"custom_id": "x", "method": "POST", "url": CHAT, "body": {"prompt": "hi"}})
    path = tmp_path / "many.jsonl"
    with open(path, "w") as f:
        for i in range(MAX_REQUESTS + 1):
            f.write(line.replace('"x"', f'"r{i}"') + "\n")
    result = scan(path, CHAT)
    assert result.errors[0].code == "too_many_tasks" and "50,000" in result.errors[0].message


def test_one_model_per_batch(tmp_path):
    other = request_line("b", "q")
    other["body"]["model"] = "another-model"
    assert [(e.code, e.line) for e in _scan(tmp_path, [request_line("a", "q"), other]).errors] == [("model_mismatch", 2)]


def test_prefix_groups_follow_the_document_not_the_question(tmp_path):
    items = [request_line(f"d{d}-q{q}", f"question {q}?", doc_id=d) for d in range(3) for q in range(4)]
    result = _scan(tmp_path, items)
    assert [len(g.lines) for g in result.groups] == [4, 4, 4]
    assert all("question" not in g.key_text for g in result.groups)
    a = prefix_key(CHAT, request_line("x", "one", 7)["body"])
    assert a == prefix_key(CHAT, request_line("y", "two\n\nwith a break?", 7)["body"])[: len(a)]


def test_completion_windows():
    assert window_seconds("24h") == 86400 and window_seconds("90s") == 90
    assert window_seconds("0h") is None and window_seconds("1w") is None and window_seconds("31d") is None
