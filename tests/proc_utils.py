"""Process helpers for tests that start `heavylift serve` for real."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def children(pid: int) -> list[int]:
    """Direct children of pid, from /proc (no psutil needed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(predicate, timeout_s: float = 60, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return False


class ServeProcess:
    """`heavylift serve` in a subprocess; `url` is the OpenAI base URL it prints when ready."""

    def __init__(self, *args: str, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen([sys.executable, "-m", "heavylift", "serve", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.url = self.proc.stdout.readline().strip()
        if not self.url:
            self.proc.wait(timeout=30)
            raise RuntimeError(f"serve did not start: {self.proc.stderr.read()[-2000:]}")

    def engine_pids(self) -> list[int]:
        return [p for p in children(self.proc.pid) if is_alive(p)]

    def stop(self, timeout_s: float = 30) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=timeout_s)
        return self.proc.stderr.read()
