"""Keep an engine we own alive: restart it when it dies, give up on repeated fast crashes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from heavylift.engines.process import ProcessEngine
from heavylift.engines.rpc import WorkerUnavailable
from heavylift.errors import EngineError, HeavyliftError


@dataclass
class RestartPolicy:
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    fast_crash_s: float = 30.0  # a crash sooner than this after becoming ready counts as "fast"
    max_fast_crashes: int = 5
    wait_retry_s: float = 2.0  # while a worker the engine needs is down


class Supervisor:
    """Runs a monitor thread over an engine process (llama-server, vLLM). `failure` holds the reason it gave up."""

    def __init__(self, engine: ProcessEngine, policy: RestartPolicy | None = None,
                 on_event: Callable[[str], None] | None = None, poll_s: float = 0.2):
        self.engine = engine
        self.policy = policy or RestartPolicy()
        self.on_event = on_event or (lambda msg: None)
        self.poll_s = poll_s
        self.num_restarts = 0
        self.last_restart_s: float | None = None  # crash noticed -> healthy again
        self.failure: str | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.engine.start()
        self._thread = threading.Thread(target=self._watch, name="engine-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stopping.set()
        with self._lock:
            self.engine.stop(timeout_s)
        if self._thread:
            self._thread.join(timeout=timeout_s)

    @property
    def is_alive(self) -> bool:
        return self.failure is None and not self._stopping.is_set()

    def wait(self) -> None:
        """Block until stopped or given up (raises EngineError with the reason then)."""
        while self._thread and self._thread.is_alive():
            self._thread.join(timeout=0.5)
        if self.failure:
            raise EngineError(self.failure)

    def _watch(self) -> None:
        fast_crashes = 0
        backoff = self.policy.initial_backoff_s
        ready_at = time.monotonic()
        waiting_for: str | None = None  # a dependency (an RPC worker) is down: wait, do not count crashes
        crashed_at = ready_at
        while not self._stopping.wait(self.poll_s):
            if self.engine.is_running():
                continue
            with self._lock:
                if self._stopping.is_set():
                    return
                if waiting_for is not None:
                    if self._stopping.wait(self.policy.wait_retry_s):
                        return
                    waiting_for = self._try_start(waiting_for)
                    if waiting_for is None:
                        self._restarted(crashed_at)
                        ready_at = time.monotonic()
                    continue
                code = self.engine.returncode
                crashed_at = time.monotonic()
                reason = self.engine.last_log_line()
                fast_crashes = fast_crashes + 1 if crashed_at - ready_at < self.policy.fast_crash_s else 1
                if fast_crashes > self.policy.max_fast_crashes:
                    self.failure = (f"{self.engine.name} crashed {fast_crashes} times within {self.policy.fast_crash_s:.0f}s "
                                    f"of starting; giving up. Last: {reason}")
                    self.on_event(self.failure)
                    self.engine.stop()
                    return
                self.on_event(f"engine exited (code {code}): {reason}; restarting in {backoff:.1f}s")
                self.engine.stop()
                if self._stopping.wait(backoff):
                    return
                try:
                    self.engine.start()
                except WorkerUnavailable as e:
                    waiting_for = self._wait_message(e, None)
                    continue
                except HeavyliftError as e:
                    self.on_event(f"restart failed: {e}")
                    backoff = min(backoff * 2, self.policy.max_backoff_s)
                    ready_at = time.monotonic()
                    continue
                ready_at = time.monotonic()
                self._restarted(crashed_at)
                if fast_crashes == 1:
                    backoff = self.policy.initial_backoff_s
                else:
                    backoff = min(backoff * 2, self.policy.max_backoff_s)

    def _restarted(self, crashed_at: float) -> None:
        self.num_restarts += 1
        self.last_restart_s = time.monotonic() - crashed_at
        self.on_event(f"engine restarted in {self.last_restart_s:.1f}s (restart #{self.num_restarts})")

    def _try_start(self, waiting_for: str) -> str | None:
        """Start again once what it waits for is back; the new waiting message, or None when started."""
        try:
            self.engine.start()
        except WorkerUnavailable as e:
            return self._wait_message(e, waiting_for)
        except HeavyliftError as e:
            self.on_event(f"restart failed: {e}")
            return waiting_for
        return None

    def _wait_message(self, e: Exception, previous: str | None) -> str:
        message = str(e)
        if message != previous:  # said once, not every retry
            self.on_event(f"{message}; waiting for it (retrying every {self.policy.wait_retry_s:.0f}s)")
        return message
