"""An engine we run as a child process (TGI-launcher style): its own process group, readiness
polled, log to a file, graceful stop with a timeout. llama-server and vLLM share this; each says
only its command line, its environment and when it is ready."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from abc import abstractmethod
from pathlib import Path

from heavylift.engines.base import Engine
from heavylift.errors import EngineError


class ProcessEngine(Engine):
    """Subclasses give `command`, and may give `env`, `check_start()` and `is_ready()`."""

    max_ready_s: float = 300.0
    # llama-server finishes the request in flight on the first SIGTERM and exits at once on a second
    # one (its "second interrupt" path); None: one SIGTERM, then SIGKILL after the timeout.
    second_sigterm_after_s: float | None = None

    def __init__(self, base_url: str, api_key: str | None = None, log_path: Path | None = None):
        super().__init__(base_url, api_key)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_s: float | None = None

    @property
    @abstractmethod
    def command(self) -> list[str]:
        """The exact command line (also printed, so users can reproduce it by hand)."""

    @property
    def env(self) -> dict[str, str] | None:
        """The child's environment (None: ours)."""
        return None

    def check_start(self) -> None:
        """Refuse to start (UsageError) before anything is launched: a bad bind, a taken port."""

    def is_ready(self) -> bool:
        return self.client.is_healthy()

    def child_setup(self) -> None:
        """Runs in the child between fork and exec (keep it to async-signal-safe calls)."""
        _die_with_parent()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self.check_start()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        started = time.monotonic()
        try:
            # Own process group: a Ctrl-C aimed at us does not reach the engine before we stop
            # it properly, and stop() can signal everything the engine spawned.
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True, env=self.env,
                                            preexec_fn=self.child_setup)
        except OSError as e:
            raise EngineError(f"cannot run {self.command[0]}: {e.strerror}; run `heavylift setup`") from None
        finally:
            if self.log_path:
                log.close()  # the child holds its own descriptor
        self._wait_ready(started)
        self.ready_s = time.monotonic() - started

    def _wait_ready(self, started: float) -> None:
        delay = 0.05
        while time.monotonic() - started < self.max_ready_s:
            code = self.process.poll() if self.process else None
            if code is not None:
                raise EngineError(f"{self.name} exited with code {code} while starting: {self.last_log_line()}")
            if self.is_ready():
                return
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        self.stop()
        raise EngineError(f"{self.name} not ready after {self.max_ready_s:.0f}s; see {self.log_path}")

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process else None

    def stop(self, timeout_s: float = 15.0) -> None:
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            first = self.second_sigterm_after_s
            try:
                proc.wait(timeout=min(first, timeout_s) if first is not None else timeout_s)
            except subprocess.TimeoutExpired:
                if first is not None:
                    _signal_group(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=max(0.0, timeout_s - (first or timeout_s)))
                except subprocess.TimeoutExpired:
                    _signal_group(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
        # Anything it left in its group goes too.
        _signal_group(proc.pid, signal.SIGKILL)
        self.process = None

    def last_log_lines(self, n: int = 15) -> list[str]:
        if not self.log_path or not self.log_path.exists():
            return []
        with open(self.log_path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 16384))
            return f.read().decode("utf-8", "replace").splitlines()[-n:]

    def last_log_line(self) -> str:
        """The most telling line of the log: the last error, else the last line."""
        lines = [ln.strip() for ln in self.last_log_lines(40) if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower() or "failed" in ln.lower()]
        line = (errors or lines or ["(no output)"])[-1]
        return f"{line} (log: {self.log_path})"


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
