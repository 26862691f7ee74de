"""`heavylift serve` for real: the gateway in front of the engine — health, deterministic chat,
tokenize, restart after SIGKILL, clean stop, and keys that never reach a command line or a log."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from heavylift.engines.llama_server import free_port
from tests.conftest import run_cli
from tests.proc_utils import ServeProcess, is_alive, wait_until

CHAT = {"messages": [{"role": "user", "content": "Name three primary colours."}],
        "temperature": 0, "max_tokens": 24, "seed": 1}


@pytest.fixture(scope="module")
def served(installed):
    server = ServeProcess("--port", str(free_port()), "--ctx", "2048")
    yield server
    server.stop()


def test_health_chat_tokenize(served):
    base = served.url.removesuffix("/v1")
    assert httpx.get(f"{base}/health").status_code == 200
    first = httpx.post(f"{served.url}/chat/completions", json=CHAT, timeout=60).json()
    second = httpx.post(f"{served.url}/chat/completions", json=CHAT, timeout=60).json()
    text = first["choices"][0]["message"]["content"]
    assert text and text == second["choices"][0]["message"]["content"], "temperature 0 must be deterministic"
    assert first["usage"]["completion_tokens"] > 0
    tokens = httpx.post(f"{base}/tokenize", json={"content": "Hello world"}).json()["tokens"]
    assert len(tokens) == 2
    models = httpx.get(f"{served.url}/models").json()
    assert models["data"][0]["id"] == "smollm2-135m-instruct"


def test_engine_killed_is_restarted(served):
    (engine,) = served.engine_pids()
    os.kill(engine, signal.SIGKILL)
    assert wait_until(lambda: served.engine_pids() and served.engine_pids() != [engine], 60)
    reply = None
    for _ in range(120):  # the new engine needs a moment to load before /health says ready
        try:
            reply = httpx.post(f"{served.url}/chat/completions", json=CHAT, timeout=60)
            if reply.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    assert reply is not None and reply.status_code == 200
    assert reply.json()["choices"][0]["message"]["content"]


def test_sigterm_leaves_no_engine_behind(installed):
    server = ServeProcess("--port", str(free_port()))
    (engine,) = server.engine_pids()
    log = server.stop()
    assert server.proc.returncode == 0, log
    assert "stopped" in log
    assert wait_until(lambda: not is_alive(engine), 10), "engine process outlived serve"


def _error(proc) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def test_port_in_use(installed):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert "already in use" in _error(run_cli("serve", "--port", str(port)))


def test_public_bind_needs_api_key(installed):
    assert "without an API key" in _error(run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port())))


def test_env_variables_set_options(installed):
    line = _error(run_cli("serve", env={"HEAVYLIFT_HOST": "0.0.0.0"}))
    assert "without an API key" in line
    assert "HEAVYLIFT_CTX" in _error(run_cli("serve", env={"HEAVYLIFT_CTX": "lots"}))


def test_engine_is_behind_the_gateway_on_loopback(served):
    (engine,) = served.engine_pids()
    cmdline = Path(f"/proc/{engine}/cmdline").read_bytes().split(b"\0")
    assert cmdline[cmdline.index(b"--host") + 1] == b"127.0.0.1"
    port = int(cmdline[cmdline.index(b"--port") + 1])
    assert f":{port}" not in served.url
    # The engine wants the per-start key the gateway holds; a client cannot skip the gateway.
    assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 401


def _cmdlines() -> list[bytes]:
    found = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            found.append(path.read_bytes())
        except OSError:
            pass
    return found


def test_serve_key_never_on_a_command_line_nor_in_output_or_logs(installed, data_dir, tmp_path):
    key = "sk-heavylift-" + secrets.token_hex(16)
    key_file = tmp_path / "key"
    key_file.write_text(f"# the gateway's key\n{key}\n")
    key_file.chmod(0o600)
    logs_before = set((data_dir / "logs").glob("*")) if (data_dir / "logs").exists() else set()
    for how in ({"env": {"HEAVYLIFT_SERVE_API_KEY": key}, "args": ()},
                {"env": {}, "args": ("--api-key-file", str(key_file))}):
        server = ServeProcess("--port", str(free_port()), *how["args"], env=how["env"])
        try:
            assert not any(key.encode() in c for c in _cmdlines()), "the key is in some process's argv"
            (engine,) = server.engine_pids()
            environ = Path(f"/proc/{engine}/environ").read_bytes()
            assert b"LLAMA_API_KEY=" in environ and key.encode() not in environ  # its own random key
            assert httpx.get(f"{server.url}/models").status_code == 401
            assert httpx.get(f"{server.url}/models", headers={"Authorization": "Bearer wrong-key-here"}).status_code == 401
            ok = httpx.get(f"{server.url}/models", headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200
        finally:
            output = server.stop()
        assert key not in output
    for log in set((data_dir / "logs").glob("*")) - logs_before:
        assert key not in log.read_text(errors="replace"), log


def test_engine_flags_cannot_carry_a_key(installed):
    assert "visible in `ps`" in _error(run_cli("serve", "--", "--api-key", "abcdefgh12345"))


def test_sigkill_of_serve_takes_the_engine_down(installed):
    server = ServeProcess("--port", str(free_port()))
    (engine,) = server.engine_pids()
    server.proc.kill()
    server.proc.wait(timeout=10)
    assert wait_until(lambda: not is_alive(engine), 10), "engine orphaned after heavylift was SIGKILLed"
