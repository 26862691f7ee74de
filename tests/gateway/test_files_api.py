"""/v1/files through the real gateway: the official client, limits, ids, keys."""

from __future__ import annotations

import io

import httpx
import pytest
from openai import AuthenticationError, BadRequestError, NotFoundError

from tests.gateway.conftest import KEY, MAX_UPLOAD_MB, files_on_disk, jsonl, request_line


def test_upload_list_retrieve_content_delete(client, data_dir):
    data = jsonl([request_line("a", "What is the rent?")])
    uploaded = client.files.create(file=("requests.jsonl", io.BytesIO(data)), purpose="batch")
    assert uploaded.id.startswith("file-") and uploaded.bytes == len(data) and uploaded.purpose == "batch"
    assert uploaded.filename == "requests.jsonl"
    assert client.files.retrieve(uploaded.id).bytes == len(data)
    assert client.files.content(uploaded.id).content == data
    assert uploaded.id in [f.id for f in client.files.list(purpose="batch")]
    assert (data_dir / "files" / uploaded.id).read_bytes() == data
    deleted = client.files.delete(uploaded.id)
    assert deleted.deleted and deleted.id == uploaded.id
    assert uploaded.id not in files_on_disk(data_dir)
    with pytest.raises(NotFoundError) as err:
        client.files.retrieve(uploaded.id)
    assert err.value.body["message"] == f"No such File object: {uploaded.id}"


def test_list_pagination(client):
    ids = [client.files.create(file=(f"p{i}.jsonl", io.BytesIO(b"{}\n")), purpose="batch").id for i in range(3)]
    first = client.files.list(limit=2, order="asc", purpose="batch")
    page = client.files.with_raw_response.list(limit=2, order="desc").parse()
    assert len(page.data) == 2 and page.has_more
    newest = [f.id for f in client.files.list(order="desc").data][:3]
    assert newest == ids[::-1]
    assert first.data[0].created_at <= first.data[1].created_at


def test_wrong_purpose_is_refused(client):
    with pytest.raises(BadRequestError) as err:
        client.files.create(file=("x.jsonl", io.BytesIO(b"{}\n")), purpose="fine-tune")
    assert err.value.body["param"] == "purpose"


def test_oversize_upload_is_413_and_nothing_is_stored(http, data_dir):
    before = files_on_disk(data_dir)
    big = b"x" * (MAX_UPLOAD_MB * 1000 * 1000 + 10)
    r = http.post("/v1/files", files={"file": ("big.jsonl", big)}, data={"purpose": "batch"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "file_too_large"
    assert files_on_disk(data_dir) == before, "an oversize upload left something behind"


def test_oversize_without_length_header_is_cut_off(gateway, data_dir):
    """A chunked upload (no Content-Length) is stopped at the limit while streaming."""
    before = files_on_disk(data_dir)
    boundary = "b0undary"

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jsonl\"\r\n"
               "Content-Type: application/octet-stream\r\n\r\n").encode()
        for _ in range(MAX_UPLOAD_MB * 4 + 2):
            yield b"y" * 262144
        yield f"\r\n--{boundary}--\r\n".encode()

    r = httpx.post(f"{gateway.url}/files", content=body(), timeout=60,
                   headers={"Authorization": f"Bearer {KEY}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413
    assert files_on_disk(data_dir) == before


def test_path_like_names_never_touch_the_filesystem(http, client, data_dir, tmp_path):
    r = http.post("/v1/files", files={"file": ("../../../../tmp/evil.jsonl", b"{}\n")}, data={"purpose": "batch"})
    assert r.status_code == 200
    record = r.json()
    assert record["filename"] == "evil.jsonl"
    assert (data_dir / "files" / record["id"]).exists()
    for bad in ("../heavylift.db", "..%2Fheavylift.db", "file-../../x", "%2e%2e%2fheavylift.db"):
        got = http.get(f"/v1/files/{bad}/content")
        assert got.status_code == 404 and "error" in got.json(), (bad, got.text)
    with pytest.raises(NotFoundError):
        client.files.content("file-doesnotexist000")


def test_missing_and_wrong_key_are_401(gateway):
    base = gateway.url
    missing = httpx.get(f"{base}/files")
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "invalid_request_error"
    wrong = httpx.get(f"{base}/models", headers={"Authorization": "Bearer not-the-key-at-all"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert "not-the-key" not in wrong.text
    from openai import OpenAI

    with pytest.raises(AuthenticationError):
        OpenAI(base_url=base, api_key="wrong-key-123", max_retries=0).files.list()
    assert httpx.get(f"{base.removesuffix('/v1')}/health").status_code == 200  # public, like llama-server's
