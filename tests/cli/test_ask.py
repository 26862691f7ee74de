"""`heavylift ask` end to end, against an ephemeral engine and against endpoints."""

from __future__ import annotations

from heavylift.engines.llama_server import free_port
from tests.conftest import run_cli
from tests.proc_utils import ServeProcess


def test_ask_ephemeral_engine_with_file(installed, tmp_path):
    doc = tmp_path / "memo.txt"
    doc.write_text("Memo: the quarterly review meeting is moved to Thursday at 3 pm in room B12.")
    proc = run_cli("ask", "Which room is the meeting in?", "--file", str(doc), "--max-tokens", "32")
    assert proc.returncode == 0, proc.stderr
    assert "B12" in proc.stdout
    assert "ephemeral engine" in proc.stderr and "prompt tokens" in proc.stderr


def test_ask_uses_running_server_and_endpoint(installed):
    server = ServeProcess("--port", str(free_port()))
    try:
        auto = run_cli("ask", "Say hello.", "--max-tokens", "8")
        assert auto.returncode == 0 and "running heavylift serve" in auto.stderr, auto.stderr
        explicit = run_cli("ask", "Say hello.", "--max-tokens", "8", "--endpoint", server.url)
        assert explicit.returncode == 0 and explicit.stdout.strip(), explicit.stderr
    finally:
        server.stop()


def test_ask_endpoint_down(installed):
    proc = run_cli("ask", "hi", "--endpoint", f"http://127.0.0.1:{free_port()}/v1")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "not answering" in proc.stderr.strip().splitlines()[-1]


def test_ask_document_too_long_for_context(installed, tmp_path):
    doc = tmp_path / "long.txt"
    doc.write_text("The cat sat on the mat. " * 400)
    proc = run_cli("ask", "What sat?", "--file", str(doc), "--ctx", "512")
    assert proc.returncode == 2 and "--ctx" in proc.stderr and "Traceback" not in proc.stderr
