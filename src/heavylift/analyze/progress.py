"""Progress read from the database, so the running job and `heavylift jobs` in another shell show
the same numbers: units done/total, prompt and generated tokens/s, cache hits, ETA."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from heavylift.analyze.jobs import Job, JobStore


@dataclass
class JobProgress:
    job: str
    status: str
    units_total: int
    units_done: int
    units_failed: int
    units_pending: int
    units_running: int
    units_cancelled: int
    prompt_tokens: int  # over all answered units
    cached_tokens: int
    completion_tokens: int
    run_elapsed_s: float | None  # this run (resume starts a new one)
    prompt_tps: float | None  # prompt tokens actually computed (not from cache) per wall second, this run
    completion_tps: float | None  # generated tokens per wall second, this run
    cache_hit_units: int  # answers whose prompt was partly served from the KV cache
    eta_s: float | None  # units left (split parts included) x this run's wall seconds per finished unit

    @classmethod
    def read(cls, store: JobStore, job: Job) -> JobProgress:
        db = store.db
        status = db.execute("SELECT status, run_started_at FROM jobs WHERE id=?", (job.id,)).fetchone()
        counts = store.counts(job.id)
        total = db.execute(
            "SELECT coalesce(sum(prompt_tokens),0), coalesce(sum(cached_tokens),0), "
            "coalesce(sum(completion_tokens),0), coalesce(sum(cached_tokens > 0),0) FROM units "
            "WHERE job_id=? AND status='done'", (job.id,)).fetchone()
        started = status["run_started_at"]
        elapsed = prompt_tps = completion_tps = eta = None
        if started and status["status"] == "running":
            elapsed = max(time.time() - started, 1e-3)
            run = db.execute(
                "SELECT count(*), coalesce(sum(prompt_tokens - cached_tokens),0), coalesce(sum(completion_tokens),0) "
                "FROM units WHERE job_id=? AND status='done' AND finished_at >= ?", (job.id, started)).fetchone()
            prompt_tps, completion_tps = run[1] / elapsed, run[2] / elapsed
            # Over every request-making unit, --split parts included (counts() leaves them out).
            left = db.execute("SELECT count(*) FROM units WHERE job_id=? AND status IN ('pending','running')",
                              (job.id,)).fetchone()[0]
            eta = elapsed / run[0] * left if run[0] else None
        return cls(job=job.name, status=status["status"], units_total=sum(counts.values()),
                   units_done=counts["done"], units_failed=counts["failed"], units_pending=counts["pending"],
                   units_running=counts["running"], units_cancelled=counts["cancelled"],
                   prompt_tokens=total[0], cached_tokens=total[1], completion_tokens=total[2],
                   run_elapsed_s=elapsed, prompt_tps=prompt_tps, completion_tps=completion_tps,
                   cache_hit_units=total[3], eta_s=eta)

    def line(self) -> str:
        def rate(v: float | None) -> str:
            return f"{v:.0f}" if v is not None else "-"

        if self.units_pending + self.units_running == 0:
            eta = "finished"
        else:
            eta = "ETA " + (_duration(self.eta_s) if self.eta_s is not None else "unknown")
        failed = f", {self.units_failed} failed" if self.units_failed else ""
        return (f"{self.job}: {self.units_done + self.units_failed}/{self.units_total} units{failed} | "
                f"prompt {rate(self.prompt_tps)} tok/s, generated {rate(self.completion_tps)} tok/s | "
                f"cache hits {self.cache_hit_units} ({self.cached_tokens} tokens) | {eta}")


def _duration(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class ProgressDisplay:
    """A live line on a terminal, plain periodic lines otherwise (both on stderr)."""

    def __init__(self, read: Callable[[], JobProgress], interval_s: float | None = None,
                 is_tty: bool | None = None):
        self.read = read
        self.is_tty = sys.stderr.isatty() if is_tty is None else is_tty
        self.interval_s = interval_s or (0.5 if self.is_tty else 10.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def __enter__(self) -> ProgressDisplay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self.is_tty:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.show()

    def show(self) -> None:
        try:
            line = self.read().line()
        except Exception:  # a busy database now and then must not kill the display
            return
        if self.is_tty:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write("analyze: " + line + "\n")
        sys.stderr.flush()
