"""The dashboard: key once in the URL, then an HttpOnly SameSite=Strict cookie; pages render from
the database; and, in a real headless chromium, a running batch's progress moves and a result opens."""

from __future__ import annotations

import io
import os
import shutil
import time

import httpx
import pytest

from tests.gateway.cdp import Browser, find_or_install_chromium
from tests.gateway.conftest import KEY, jsonl, request_line, wait_batch


def _base(gateway) -> str:
    return gateway.url.removesuffix("/v1")


def test_key_in_url_once_then_a_cookie(gateway):
    base = _base(gateway)
    assert httpx.get(f"{base}/").status_code == 401
    assert httpx.get(f"{base}/?key=wrong-key-000").status_code == 401
    login = httpx.get(f"{base}/?key={KEY}", follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and KEY not in cookie
    with httpx.Client(base_url=base, cookies=login.cookies) as browser:
        page = browser.get("/")
        assert page.status_code == 200 and "Batches" in page.text and "Engine" in page.text
        status = browser.get("/dashboard/api/status").json()
        assert status["engine"]["model"] == "smollm2-135m-instruct" and status["engine"]["num_slots"] == 2
        # Actions need the page's own header: a form on another site cannot cancel anything.
        assert browser.post("/dashboard/api/batches/batch_x00000000/cancel").status_code == 403


def test_pages_for_a_batch_and_a_result(gateway, client, http):
    file_id = client.files.create(file=("d.jsonl", io.BytesIO(jsonl([request_line("only", "Rent?", max_tokens=4)]))),
                                  purpose="batch").id
    batch = wait_batch(client, client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                                     completion_window="24h").id)
    page = http.get(f"/dashboard/batches/{batch.id}")
    assert page.status_code == 200 and "only" in page.text and "completed" in page.text
    unit_id = page.text.split(f"/dashboard/batches/{batch.id}/requests/")[1].split('"')[0]
    result = http.get(f"/dashboard/batches/{batch.id}/requests/{unit_id}")
    assert result.status_code == 200 and "Answer" in result.text and "prompt" in result.text
    assert http.get("/dashboard/batches/batch_nosuch00000").status_code == 404


@pytest.mark.browser
def test_dashboard_in_headless_chromium(gateway, client, tmp_path):
    binary = find_or_install_chromium()
    if not binary:
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get)")
    items = [request_line(f"b{i:02d}", f"Question {i}: what does the lease say about notice?", doc_id=i,
                          max_tokens=24) for i in range(20)]
    file_id = client.files.create(file=("browser.jsonl", io.BytesIO(jsonl(items))), purpose="batch").id
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h",
                                  metadata={"shown": "in a browser"})
    browser = Browser(binary, tmp_path / "profile")
    try:
        browser.goto(f"{_base(gateway)}/?key={KEY}", f"location.pathname === '/' && document.querySelector("
                     f"'.progress[data-batch=\"{batch.id}\"]')")
        assert "key=" not in browser.eval("location.href")
        units = f"document.querySelector('.progress[data-batch=\"{batch.id}\"] .units').textContent"
        seen = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            value = browser.eval(units)
            if not seen or value != seen[-1]:
                seen.append(value)
            if value == f"{len(items)}/{len(items)}":
                break
            time.sleep(0.25)
        assert len(seen) >= 2, f"progress never moved on the page: {seen}"  # updated live, no reload
        shot = browser.screenshot(tmp_path / "dashboard.png")
        browser.goto(f"{_base(gateway)}/dashboard/batches/{batch.id}", "document.querySelector('a.req')")
        browser.eval("document.querySelector('a.req').click()")
        browser.wait("document.querySelector('#answer')")
        assert browser.eval("document.querySelector('#result-title').textContent").startswith("b00")
        answer = browser.eval("document.querySelector('#answer').textContent")
        assert answer and answer != "not answered yet"
        result_shot = browser.screenshot(tmp_path / "result.png")
    finally:
        browser.close()
    wait_batch(client, batch.id)
    keep = os.environ.get("HEAVYLIFT_SCREENSHOTS")
    if keep:  # to look at them: HEAVYLIFT_SCREENSHOTS=/some/dir
        for path in (shot, result_shot):
            shutil.copy(path, keep)
    assert shot.stat().st_size > 10_000 and result_shot.stat().st_size > 5_000
