"""/v1/batches with the official openai client against the real gateway and engine."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from openai import BadRequestError, NotFoundError

from tests.gateway.conftest import DOC, jsonl, lines_of, request_line, wait_batch


def _upload(client, items, name="batch.jsonl") -> str:
    return client.files.create(file=(name, io.BytesIO(jsonl(items))), purpose="batch").id


def test_documents_x_questions_each_prefix_computed_once(client):
    questions = ["What is the rent?", "Who is the tenant?", "How long is the lease?"]
    items = [request_line(f"doc{d}-q{q}", text, doc_id=d) for d in range(2) for q, text in enumerate(questions)]
    file_id = _upload(client, items)
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                  completion_window="24h", metadata={"project": "leases"})
    assert batch.status == "validating" and batch.metadata == {"project": "leases"}
    batch = wait_batch(client, batch.id)
    assert batch.status == "completed", batch
    assert batch.request_counts.total == 6 and batch.request_counts.completed == 6 and batch.request_counts.failed == 0
    assert batch.error_file_id is None and batch.completed_at and batch.in_progress_at and batch.finalizing_at
    out = lines_of(client, batch.output_file_id)
    assert [o["custom_id"] for o in out] == [i["custom_id"] for i in items]  # input order, each once
    by_doc: dict[int, list] = {}
    for o in out:
        assert o["error"] is None and o["response"]["status_code"] == 200 and o["id"].startswith("batch_req_")
        body = o["response"]["body"]
        assert body["choices"][0]["message"]["content"]
        by_doc.setdefault(int(o["custom_id"][3]), []).append(body["usage"])
    for usages in by_doc.values():
        # The document is computed once: the later questions find it in the slot's cache.
        for usage in usages[1:]:
            assert usage["prompt_tokens_details"]["cached_tokens"] >= usage["prompt_tokens"] - 24, usages
    assert batch.usage.input_tokens_details.cached_tokens > 0

    # The same documents in a later batch: their saved KV is restored instead of recomputed.
    again = _upload(client, [request_line(f"again{d}", "Is there a deposit?", doc_id=d) for d in range(2)])
    second = wait_batch(client, client.batches.create(input_file_id=again, endpoint="/v1/chat/completions",
                                                      completion_window="24h").id)
    for o in lines_of(client, second.output_file_id):
        usage = o["response"]["body"]["usage"]
        assert usage["prompt_tokens_details"]["cached_tokens"] > 200, usage


def test_list_paginates_newest_first(client):
    ids = []
    for i in range(3):
        file_id = _upload(client, [request_line(f"p{i}", "Rent?", max_tokens=2)])
        ids.append(client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                         completion_window="24h").id)
    page = client.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    nxt = client.batches.list(limit=2, after=page.data[-1].id)
    assert nxt.data[0].id == ids[0]
    seen = [b.id for b in client.batches.list(limit=2)]  # auto-pagination walks every page
    assert seen[:3] == ids[::-1]
    for batch_id in ids:
        wait_batch(client, batch_id)


def test_validation_failures_are_reported_like_openai(client):
    items = [request_line("a", "q"), "{oops", request_line("a", "again"), {**request_line("b", "q"), "url": "/v1/x"}]
    batch = wait_batch(client, client.batches.create(input_file_id=_upload(client, items),
                                                     endpoint="/v1/chat/completions", completion_window="24h").id)
    assert batch.status == "failed" and batch.failed_at
    errors = [(e.code, e.line) for e in batch.errors.data]
    assert errors == [("invalid_json_line", 2), ("duplicate_custom_id", 3), ("url_mismatch", 4)]
    assert batch.output_file_id is None and batch.error_file_id is None


def test_engine_rejections_and_too_long_prompts_fail_their_line_only(client):
    too_long = request_line("long", "Summarize.")
    too_long["body"]["messages"][1]["content"] = DOC * 60  # far over the 2048 tokens per slot
    items = [request_line("ok1", "What is the rent?"), {**request_line("bad", "q"), "body": {"messages": "not a list"}},
             too_long, request_line("ok2", "Who is the tenant?")]
    batch = wait_batch(client, client.batches.create(input_file_id=_upload(client, items),
                                                     endpoint="/v1/chat/completions", completion_window="24h").id)
    assert batch.status == "completed"
    assert (batch.request_counts.completed, batch.request_counts.failed) == (2, 2)
    assert [o["custom_id"] for o in lines_of(client, batch.output_file_id)] == ["ok1", "ok2"]
    errors = {o["custom_id"]: o for o in lines_of(client, batch.error_file_id)}
    assert set(errors) == {"bad", "long"}
    assert errors["bad"]["response"]["status_code"] == 400
    long_error = errors["long"]["response"]["body"]["error"]
    assert errors["long"]["response"]["status_code"] == 400
    assert long_error["type"] == "exceed_context_size_error" and long_error["n_prompt_tokens"] > 2048
    assert str(long_error["n_prompt_tokens"]) in long_error["message"]  # the count, never truncated


def test_cancel_and_cancel_of_a_finished_batch(client):
    items = [request_line(f"c{i}", f"Question {i}: what is the rent?", doc_id=i, max_tokens=48) for i in range(12)]
    batch = client.batches.create(input_file_id=_upload(client, items), endpoint="/v1/chat/completions",
                                  completion_window="24h")
    wait_batch(client, batch.id, until=("in_progress",))
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled") and cancelling.cancelling_at
    done = wait_batch(client, batch.id)
    assert done.status == "cancelled" and done.cancelled_at
    out = lines_of(client, done.output_file_id)
    errors = lines_of(client, done.error_file_id)
    assert sorted(o["custom_id"] for o in out + errors) == sorted(i["custom_id"] for i in items)  # each once
    assert any(e["error"] and e["error"]["code"] == "batch_cancelled" for e in errors)
    assert client.batches.cancel(batch.id).status == "cancelled"  # asking again is harmless
    finished = wait_batch(client, client.batches.create(input_file_id=_upload(client, [request_line("f", "q", max_tokens=2)]),
                                                        endpoint="/v1/chat/completions", completion_window="24h").id)
    with pytest.raises(BadRequestError) as err:
        client.batches.cancel(finished.id)
    assert "completed" in err.value.body["message"]


def test_expiry_after_the_completion_window(client):
    items = [request_line(f"e{i}", f"Question {i}: list every term.", doc_id=i, max_tokens=64) for i in range(30)]
    batch = client.batches.create(input_file_id=_upload(client, items), endpoint="/v1/chat/completions",
                                  completion_window="2s")
    done = wait_batch(client, batch.id)
    assert done.status == "expired" and done.expired_at
    out, errors = lines_of(client, done.output_file_id), lines_of(client, done.error_file_id)
    assert sorted(o["custom_id"] for o in out + errors) == sorted(i["custom_id"] for i in items)
    expired = [e for e in errors if e["error"] and e["error"]["code"] == "batch_expired"]
    assert expired and len(out) == done.request_counts.completed


def test_bad_requests_to_create(client, http):
    file_id = _upload(client, [request_line("a", "q")])
    with pytest.raises(NotFoundError) as err:
        client.batches.create(input_file_id="file-nosuchfile0000", endpoint="/v1/chat/completions",
                              completion_window="24h")
    assert err.value.body["param"] == "input_file_id"
    with pytest.raises(BadRequestError):
        client.batches.create(input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h")
    with pytest.raises(BadRequestError):
        client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="soon")
    with pytest.raises(NotFoundError) as err:
        client.batches.retrieve("batch_doesnotexist0000")
    assert err.value.body == {"message": "No such Batch object: batch_doesnotexist0000",
                              "type": "invalid_request_error", "param": "batch_id", "code": None}
    assert http.post("/v1/batches/../../v1/files/cancel").status_code in (401, 404, 405)
    r = http.post("/v1/batches", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "error" in r.json()


def test_streaming_is_proxied_unbuffered(gateway):
    from tests.gateway.conftest import KEY

    body = {"messages": [{"role": "user", "content": "Count from one to twenty."}], "max_tokens": 24,
            "stream": True, "temperature": 0}
    chunks = []
    with httpx.stream("POST", f"{gateway.url}/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {KEY}"}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data:") and line != "data: [DONE]":
                chunks.append(json.loads(line[5:]))
    assert len(chunks) > 5  # token by token, not one buffered blob


def test_analyze_resume_refuses_a_batch(client):
    from tests.conftest import run_cli

    file_id = _upload(client, [request_line("r", "Rent?", max_tokens=2)])
    batch = wait_batch(client, client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                                     completion_window="24h").id)
    proc = run_cli("resume", batch.id)
    assert proc.returncode == 2 and "Batch API batch" in proc.stderr and "Traceback" not in proc.stderr


def test_a_client_that_leaves_stops_the_engine_work(gateway, http):
    from tests.gateway.conftest import KEY
    from tests.proc_utils import wait_until

    body = {"messages": [{"role": "user", "content": "Tell a very long story."}], "max_tokens": 4000,
            "stream": True, "ignore_eos": True}
    with httpx.stream("POST", f"{gateway.url}/chat/completions", json=body, timeout=120,
                      headers={"Authorization": f"Bearer {KEY}"}) as r:
        for n, _ in enumerate(r.iter_lines()):
            if n > 6:
                break  # leave mid-answer

    def idle() -> bool:
        return not any(s.get("is_processing") for s in http.get("/slots").json())

    assert wait_until(idle, 60), "the engine kept generating for a client that had gone"
