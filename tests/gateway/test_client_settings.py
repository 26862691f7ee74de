"""Clients honour the ecosystem's OPENAI_BASE_URL / OPENAI_API_KEY; the serve key is a separate setting."""

from __future__ import annotations

from heavylift.engines.credentials import (
    client_api_key,
    client_endpoint,
    redact,
    redact_argv,
    serve_api_keys,
)
from tests.conftest import run_cli
from tests.gateway.conftest import KEY


def test_ask_uses_openai_base_url_and_key(gateway):
    proc = run_cli("ask", "Say hello.", "--max-tokens", "4",
                   env={"OPENAI_BASE_URL": gateway.url, "OPENAI_API_KEY": KEY, "HEAVYLIFT_API_KEY": ""})
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert f"endpoint {gateway.url}" in proc.stderr and KEY not in proc.stderr + proc.stdout


def test_precedence_and_redaction(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "from-openai-var")
    monkeypatch.setenv("HEAVYLIFT_API_KEY", "from-heavylift-var")
    monkeypatch.setenv("HEAVYLIFT_SERVE_API_KEY", "the-serve-key-1")
    assert client_api_key("flag-key") == "flag-key"
    assert client_api_key() == "from-heavylift-var"  # the serve key never leaks into what clients send
    monkeypatch.delenv("HEAVYLIFT_API_KEY")
    assert client_api_key() == "from-openai-var"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://example.invalid/v1")
    assert client_endpoint() == "http://example.invalid/v1" and client_endpoint("http://x/v1") == "http://x/v1"
    assert serve_api_keys() == ["the-serve-key-1"]
    assert redact_argv(["llama-server", "--api-key", "s3cret-abc", "--api-key=s3cret-abc", "-c", "8"]) == \
        ["llama-server", "--api-key", "***", "--api-key=***", "-c", "8"]
    assert "s3cret" not in redact("Authorization: Bearer s3cret-abc failed", [])
