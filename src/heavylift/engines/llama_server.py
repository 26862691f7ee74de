"""llama.cpp's llama-server as a child process in its own process group (TGI-launcher style)."""

from __future__ import annotations

import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from heavylift.engines.base import Engine, EngineCapabilities
from heavylift.engines.credentials import engine_env, redact_argv
from heavylift.engines.llama_args import LlamaArgs
from heavylift.engines.registry import register_engine
from heavylift.errors import EngineError, UsageError

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass
class LlamaServerConfig:
    """How to run the process; what to pass it is `settings` (the one argv builder, engines/llama_args.py)."""

    binary: Path
    settings: LlamaArgs
    log_path: Path | None = None
    max_ready_s: float = 300.0

    def args(self) -> list[str]:
        """The exact command line (also printed, so users can reproduce it by hand)."""
        return self.settings.argv(str(self.binary))

    @property
    def host(self) -> str:
        return self.settings.host or "127.0.0.1"

    @property
    def port(self) -> int:
        return self.settings.port or 8080

    @property
    def api_key(self) -> str | None:
        """Passed as LLAMA_API_KEY in the child's environment, never on argv (engines/credentials.py)."""
        return self.settings.api_key

    @property
    def model_path(self) -> Path:
        return Path(self.settings.model_path)

    @property
    def alias(self) -> str | None:
        return self.settings.alias

    @property
    def slot_save_path(self) -> Path | None:
        return self.settings.slot_save_path


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def check_bind(host: str, port: int, api_key: str | None) -> None:
    """Refuse a public bind without a key, and a port someone else holds."""
    if not is_loopback(host) and not api_key:
        raise UsageError(f"refusing to bind {host} without an API key; set HEAVYLIFT_SERVE_API_KEY "
                         "(or --api-key-file FILE), or bind 127.0.0.1")
    if not 0 < port < 65536:
        raise UsageError(f"port {port} is out of range; choose 1-65535")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        # Like llama-server itself: connections in TIME_WAIT (after an engine crash) do not
        # block the port, a listening socket does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise UsageError(f"port {port} on {host} is already in use; choose another with --port") from None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@register_engine("llama-server")
class LlamaServer(Engine):
    name = "llama-server"
    capabilities = EngineCapabilities(tokenize=True, slot_save=True, metrics=True)

    def __init__(self, config: LlamaServerConfig):
        host = f"[{config.host}]" if ":" in config.host else config.host
        super().__init__(f"http://{host}:{config.port}", config.api_key)
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_s: float | None = None

    @property
    def command(self) -> list[str]:
        return self.config.args()

    @property
    def printable_command(self) -> str:
        """The command line to show a user: no secrets (they are not on it, and any flag is masked)."""
        return shlex.join(redact_argv(self.command))

    def start(self) -> None:
        check_bind(self.config.host, self.config.port, self.config.api_key)
        log_path = self.config.log_path
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        started = time.monotonic()
        try:
            # Own process group: a Ctrl-C aimed at us does not reach the engine before we stop
            # it properly, and stop() can signal everything the engine spawned.
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            env=engine_env(self.config.api_key), preexec_fn=_die_with_parent)
        except OSError as e:
            raise EngineError(f"cannot run {self.config.binary}: {e.strerror}; run `heavylift setup`") from None
        finally:
            if log_path:
                log.close()  # the child holds its own descriptor
        self._wait_ready(started)
        self.ready_s = time.monotonic() - started

    def _wait_ready(self, started: float) -> None:
        delay = 0.05
        while time.monotonic() - started < self.config.max_ready_s:
            code = self.process.poll() if self.process else None
            if code is not None:
                raise EngineError(f"llama-server exited with code {code} while starting: {self.last_log_line()}")
            if self.client.is_healthy():
                return
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        self.stop()
        raise EngineError(f"llama-server not ready after {self.config.max_ready_s:.0f}s; see {self.config.log_path}")

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self, timeout_s: float = 15.0) -> None:
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            # llama-server finishes the request in flight on the first SIGTERM and exits at once
            # on a second one (its "second interrupt" path): give it a moment, then insist.
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=min(1.0, timeout_s))
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=max(0.0, timeout_s - 1.0))
                except subprocess.TimeoutExpired:
                    _signal_group(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
        # Anything it left in its group goes too.
        _signal_group(proc.pid, signal.SIGKILL)
        self.process = None

    def last_log_lines(self, n: int = 15) -> list[str]:
        if not self.config.log_path or not self.config.log_path.exists():
            return []
        with open(self.config.log_path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 16384))
            return f.read().decode("utf-8", "replace").splitlines()[-n:]

    def last_log_line(self) -> str:
        """The most telling line of the log: the last error, else the last line."""
        lines = [ln.strip() for ln in self.last_log_lines(40) if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower() or "failed" in ln.lower()]
        line = (errors or lines or ["(no output)"])[-1]
        return f"{line} (log: {self.config.log_path})"


def _die_with_parent() -> None:
    """Linux: the engine gets SIGTERM if heavylift itself is SIGKILLed, so no orphan keeps the
    port and the RAM. (PR_SET_PDEATHSIG fires when the spawning thread exits; our spawning
    threads live as long as the engine is wanted.)"""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
