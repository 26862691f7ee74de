"""API keys and endpoints: where each comes from, and how they are kept out of argv and logs.

Two keys, two meanings:
- the key `heavylift serve` REQUIRES from its clients: `HEAVYLIFT_SERVE_API_KEY`, or
  `--api-key-file FILE` (one key per line, `#` comments), or `--api-key` (visible in `ps`: discouraged);
- the key `ask`/`analyze`/`run-batch --endpoint` SEND: `--api-key`, else `HEAVYLIFT_API_KEY`, else
  `OPENAI_API_KEY` (the ecosystem's convention), with `OPENAI_BASE_URL` for a missing `--endpoint`.
The engine behind the gateway gets a random key per start, through its environment
(`LLAMA_API_KEY`, read by llama-server: common/arg.cpp, `--api-key` ... `.set_env("LLAMA_API_KEY")`).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

from heavylift import settings
from heavylift.errors import UsageError

SERVE_KEY_VAR = "HEAVYLIFT_SERVE_API_KEY"
CLIENT_KEY_VARS = ("HEAVYLIFT_API_KEY", "OPENAI_API_KEY")
CLIENT_ENDPOINT_VAR = "OPENAI_BASE_URL"
ENGINE_KEY_VAR = "LLAMA_API_KEY"  # llama-server reads its --api-key from here
REDACTED = "***"
# Flags whose next argument is a secret, in any command line we print.
_SECRET_FLAGS = {"--api-key", "--hf-token", "-hft"}


def client_api_key(explicit: str | None = None) -> str | None:
    """The key a client sends: the flag, else HEAVYLIFT_API_KEY, else OPENAI_API_KEY."""
    if explicit:
        return explicit
    for var in CLIENT_KEY_VARS:
        if value := settings.get(var):
            return value
    return None


def client_endpoint(explicit: str | None = None) -> str | None:
    """The endpoint a client uses: the flag, else OPENAI_BASE_URL, else None (run our own engine)."""
    return explicit or settings.get(CLIENT_ENDPOINT_VAR) or None


def serve_api_keys(explicit: str | None = None, key_file: Path | None = None) -> list[str]:
    """The keys `serve` accepts: --api-key, --api-key-file, then HEAVYLIFT_SERVE_API_KEY."""
    keys: list[str] = []
    if explicit:
        keys.append(explicit)
    if key_file is not None:
        try:
            lines = key_file.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise UsageError(f"cannot read --api-key-file {key_file} ({e.strerror}); check the path") from None
        keys += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        if not keys:
            raise UsageError(f"--api-key-file {key_file} holds no key (one per line, # for comments)")
    if not keys and (key := settings.get(SERVE_KEY_VAR)):
        keys.append(key)
    for key in keys:
        if len(key) < 8 or any(c.isspace() for c in key):
            raise UsageError("an API key must be at least 8 characters with no spaces; choose a longer one")
    return keys


def new_engine_key() -> str:
    """A fresh random key for the engine behind the gateway (never shown, never on argv)."""
    return "hl-engine-" + secrets.token_urlsafe(24)


def engine_env(api_key: str | None) -> dict[str, str]:
    """The child's environment: ours, plus the engine key; a stray LLAMA_API_KEY of ours is dropped."""
    env = {k: v for k, v in os.environ.items() if k not in (ENGINE_KEY_VAR, SERVE_KEY_VAR)}
    if api_key:
        env[ENGINE_KEY_VAR] = api_key
    return env


def refuse_secret_args(args: Sequence[str]) -> None:
    """Engine flags after `--` must not carry a key: it would sit in `ps` for every local user."""
    for arg in args:
        if arg.split("=", 1)[0] in _SECRET_FLAGS:
            raise UsageError(f"do not pass {arg.split('=', 1)[0]} to the engine: it would be visible in `ps`; "
                             f"set {SERVE_KEY_VAR} or use --api-key-file for serve's key")


def redact_argv(args: Iterable[str]) -> list[str]:
    """A command line safe to print: the value after any secret flag becomes ***."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
        elif arg.split("=", 1)[0] in _SECRET_FLAGS and "=" in arg:
            out.append(arg.split("=", 1)[0] + "=" + REDACTED)
        else:
            out.append(arg)
            hide_next = arg in _SECRET_FLAGS
    return out


def redact(text: str, keys: Iterable[str | None]) -> str:
    """Any of these keys inside a message (an error echoing a URL or a header) becomes ***."""
    for key in keys:
        if key:
            text = text.replace(key, REDACTED)
    return re.sub(r"(?i)(bearer\s+)\S+", r"\1" + REDACTED, text)
