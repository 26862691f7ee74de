"""One real `heavylift serve` (gateway + llama-server, 2 slots, a key) shared by the gateway tests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from heavylift.engines.llama_server import free_port
from tests.proc_utils import ServeProcess

KEY = "test-key-0123456789"
MAX_UPLOAD_MB = 1


@pytest.fixture(scope="session")
def gateway(installed) -> Iterator[ServeProcess]:
    server = ServeProcess("--port", str(free_port()), "--ctx", "4096", "--parallel", "2",
                          "--max-upload-mb", str(MAX_UPLOAD_MB), "--kv-save-min-tokens", "200",
                          env={"HEAVYLIFT_SERVE_API_KEY": KEY})
    yield server
    server.stop()


@pytest.fixture
def http(gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url.removesuffix("/v1"), headers={"Authorization": f"Bearer {KEY}"},
                      timeout=120) as client:
        yield client


@pytest.fixture
def client(gateway):
    from openai import OpenAI

    return OpenAI(base_url=gateway.url, api_key=KEY, max_retries=0, timeout=120)


DOC = ("This lease between Alder Homes Ltd (landlord) and Jo Park (tenant) starts on 1 March 2024 and runs "
       "for 12 months. The rent is 900 EUR per month, due on the first day of each month. Either party may "
       "end the lease with two months' written notice. ")


def request_line(custom_id: str, question: str, doc_id: int = 0, max_tokens: int = 12, **body) -> dict:
    messages = [{"role": "system", "content": "Answer in a few words."},
                {"role": "user", "content": f"Document {doc_id}: {DOC * 3}\n\nQuestion: {question}"}]
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": messages, "max_tokens": max_tokens,
                     "temperature": 0, **body}}


def jsonl(items: list) -> bytes:
    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in items).encode() + b"\n"


def wait_batch(client, batch_id: str, timeout_s: float = 300, until=("completed", "failed", "expired", "cancelled")):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if batch.status in until:
            return batch
        time.sleep(0.3)
    raise AssertionError(f"batch {batch_id} still {batch.status} after {timeout_s}s")


def lines_of(client, file_id: str | None) -> list[dict]:
    if not file_id:
        return []
    return [json.loads(x) for x in client.files.content(file_id).text.splitlines() if x.strip()]


def files_on_disk(data_dir: Path) -> set[str]:
    folder = data_dir / "files"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()
