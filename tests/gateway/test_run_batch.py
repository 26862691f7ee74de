"""`heavylift run-batch`: the Batch API format offline, with progress; bad input refused up front."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.gateway.conftest import jsonl, request_line


def test_run_batch_writes_every_line_in_order(installed, tmp_path):
    items = [request_line(f"d{d}-q{q}", f"Question {q}?", doc_id=d, max_tokens=8) for d in range(2) for q in range(3)]
    items.append({**request_line("bad", "q"), "body": {"messages": 42}})
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(jsonl(items))
    proc = run_cli("run-batch", "-i", str(src), "-o", str(out), "--progress-interval", "0.5", "--parallel", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(out)
    assert "units" in proc.stderr and "tok/s" in proc.stderr  # progress lines
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["custom_id"] for x in lines] == [i["custom_id"] for i in items]
    ok = [x for x in lines if x["response"]["status_code"] == 200]
    assert len(ok) == 6 and lines[-1]["response"]["status_code"] == 400
    assert sum(x["response"]["body"]["usage"]["prompt_tokens_details"]["cached_tokens"] for x in ok) > 0
    again = run_cli("run-batch", "-i", str(src), "-o", str(out))
    assert again.returncode == 2 and "--force" in again.stderr  # never overwrites without --force


def test_run_batch_bad_input_is_one_line_and_nothing_runs(installed, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl([request_line("a", "q"), "{broken", request_line("a", "q")]))
    proc = run_cli("run-batch", "-i", str(src), "-o", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "line 2: This line is not parseable as valid JSON" in proc.stderr
    assert "starting" not in proc.stderr  # no engine was started
    missing = run_cli("run-batch", "-i", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
