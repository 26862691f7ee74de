"""kill -9 at any moment, restart: the batch resumes, no request lost, none answered twice, each
output line written exactly once. Both for `serve`'s Batch API and for `run-batch`."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heavylift.engines.llama_server import free_port
from tests.conftest import run_cli
from tests.gateway.conftest import KEY, jsonl, lines_of, request_line, wait_batch
from tests.proc_utils import ServeProcess, is_alive, wait_until


@pytest.fixture
def private_data(installed, tmp_path) -> dict[str, str]:
    """A data dir of its own, so the session's gateway does not pick the batch up meanwhile."""
    env = {"HEAVYLIFT_DATA_DIR": str(tmp_path / "data")}
    assert run_cli("setup", env=env).returncode == 0
    return env


def _db(env) -> sqlite3.Connection:
    return sqlite3.connect(Path(env["HEAVYLIFT_DATA_DIR"]) / "heavylift.db")


def _done_units(env) -> set[int]:
    with _db(env) as db:
        return {r[0] for r in db.execute("SELECT id FROM units WHERE status='done'")}


def _attempts(env) -> list[tuple[int, str | None, float]]:
    with _db(env) as db:
        return db.execute("SELECT unit_id, outcome, started_at FROM unit_attempts").fetchall()


def _check_exactly_once(env, done_before: set[int], killed_at: float) -> None:
    attempts = _attempts(env)
    done_count: dict[int, int] = {}
    for unit_id, outcome, started in attempts:
        done_count[unit_id] = done_count.get(unit_id, 0) + (outcome == "done")
        assert not (unit_id in done_before and started > killed_at), f"unit {unit_id} was answered, then sent again"
    assert set(done_count.values()) == {1}, "every request answered exactly once"


def test_kill_9_of_serve_mid_batch_then_restart(private_data):
    from openai import OpenAI

    items = [request_line(f"r{i:02d}", f"Question {i}: what is the rent?", doc_id=i % 6, max_tokens=16)
             for i in range(18)]
    server = ServeProcess("--port", str(free_port()), "--parallel", "2", env={**private_data,
                          "HEAVYLIFT_SERVE_API_KEY": KEY})
    client = OpenAI(base_url=server.url, api_key=KEY, max_retries=0)
    file_id = client.files.create(file=("in.jsonl", io.BytesIO(jsonl(items))), purpose="batch").id
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    (engine,) = server.engine_pids()
    assert wait_until(lambda: len(_done_units(private_data)) >= 3, 300)
    server.proc.kill()  # SIGKILL: no cleanup of any kind
    killed_at = time.time()
    server.proc.wait(timeout=10)
    done_before = _done_units(private_data)
    assert 3 <= len(done_before) < len(items), "kill came too late to test anything"
    assert wait_until(lambda: not is_alive(engine), 10)

    again = ServeProcess("--port", str(free_port()), "--parallel", "2", env={**private_data,
                         "HEAVYLIFT_SERVE_API_KEY": KEY})
    try:
        client = OpenAI(base_url=again.url, api_key=KEY, max_retries=2)
        done = wait_batch(client, batch.id, timeout_s=400)
        out = lines_of(client, done.output_file_id)
    except Exception as e:
        raise AssertionError(f"{e}; the restarted serve said: {again.stop()[-3000:]}") from e
    finally:
        again.stop()
    assert done.status == "completed" and done.request_counts.completed == len(items)
    assert [o["custom_id"] for o in out] == [i["custom_id"] for i in items]
    _check_exactly_once(private_data, done_before, killed_at)


def test_kill_9_of_run_batch_then_the_same_command_resumes(private_data, tmp_path):
    items = [request_line(f"r{i:02d}", f"Question {i}: who is the tenant?", doc_id=i % 4, max_tokens=16)
             for i in range(12)]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(jsonl(items))
    cmd = [sys.executable, "-m", "heavylift", "run-batch", "-i", str(src), "-o", str(out), "--progress-interval", "1"]
    env = {**os.environ, **private_data}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: len(_done_units(private_data)) >= 3, 300)
    proc.send_signal(signal.SIGKILL)
    killed_at = time.time()
    proc.wait(timeout=10)
    done_before = _done_units(private_data)
    assert len(done_before) < len(items) and not out.exists()

    second = run_cli("run-batch", "-i", str(src), "-o", str(out), env=private_data, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming" in second.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["custom_id"] for x in lines] == [i["custom_id"] for i in items]
    assert all(x["response"]["status_code"] == 200 for x in lines)
    _check_exactly_once(private_data, done_before, killed_at)
