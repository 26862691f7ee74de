"""Helpers for the `heavylift analyze` tests: the CLI in a subprocess, the job database, sample docs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from heavylift.analyze.jobs import JobStore
from heavylift.store import Database

FAST = ["--max-tokens", "8", "--progress-interval", "2"]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heavylift", *args], capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())


def start_cli(*args: str, stderr_path: Path) -> subprocess.Popen:
    """`heavylift ARGS` in the background, stderr to a file (a pipe nobody reads could fill up)."""
    with open(stderr_path, "w") as err:
        return subprocess.Popen([sys.executable, "-m", "heavylift", *args], stdout=subprocess.DEVNULL,
                                stderr=err, env=os.environ.copy())


def store() -> JobStore:
    return JobStore(Database())


def results(job: str) -> list[dict]:
    proc = cli("results", job, "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def write_docs(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"contract{i}.md"
        path.write_text(f"# Contract {i}\nThe supplier is Company {i}. Payment is due in {30 + i} days. "
                        f"Either party may terminate on {60 + i} days notice.\n")
        paths.append(path)
    return paths


def units_done(s: JobStore, job_name: str) -> int:
    return s.db.execute("SELECT count(*) FROM units u JOIN jobs j ON j.id=u.job_id WHERE j.name=? "
                        "AND u.status='done'", (job_name,)).fetchone()[0]


def wait_for(predicate: Callable[[], bool], proc: subprocess.Popen, timeout_s: float = 240, step_s: float = 0.05) -> None:
    """Poll until predicate() while proc runs; fails the test if proc ends or time runs out first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the job ended before the test could act on it"
        if predicate():
            return
        time.sleep(step_s)
    raise AssertionError(f"condition not reached in {timeout_s}s")


def attempts_by_unit(s: JobStore, job_id: int) -> dict[int, list[str]]:
    """unit id -> outcomes of its requests, in order (unit_attempts: one row per request sent)."""
    out: dict[int, list[str]] = {}
    for r in s.db.execute("SELECT a.unit_id, a.outcome FROM unit_attempts a JOIN units u ON u.id=a.unit_id "
                          "WHERE u.job_id=? ORDER BY a.id", (job_id,)):
        out.setdefault(r[0], []).append(r[1])
    return out
