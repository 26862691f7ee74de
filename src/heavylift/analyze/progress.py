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
    status: str  # a 'running' job whose process is gone reads 'interrupted'
    units_total: int
    units_done: int
    units_failed: int
    units_pending: int
    units_running: int
    units_cancelled: int
    prompt_tokens: int  # over all answered requests (split parts included)
    cached_tokens: int
    completion_tokens: int
    run_elapsed_s: float | None  # this run (resume starts a new one); None unless running
    prompt_tps: float | None  # prompt tokens actually computed (not from cache) per wall second, this run
    completion_tps: float | None  # generated tokens per wall second, this run
    cache_hit_units: int  # answers that reused their whole document prefix from the KV cache
    cache_hit_tokens: int  # the tokens those answers reused
    eta_s: float | None  # units left (split parts included) x this run's wall seconds per finished unit
    prefill_tokens: int | None = None  # the first request of this run, still in its prompt: its size,
    prefill_elapsed_s: float | None = None  # how long it has run,
    prefill_predicted_s: float | None = None  # and what the planner predicts for it (None: unknown)

    @classmethod
    def read(cls, store: JobStore, job: Job) -> JobProgress:
        job = store.get(job.id)
        status = job.live_status
        counts = store.counts(job.id)
        started = job.run_started_at if status == "running" else None
        totals = store.progress_totals(job.id, started)
        elapsed = prompt_tps = completion_tps = eta = None
        prefill = {}
        if started:
            elapsed = max(time.time() - started, 1e-3)
            prompt_tps = totals["run_computed_tokens"] / elapsed
            completion_tps = totals["run_completion_tokens"] / elapsed
            n_run = totals["run_units"]
            eta = elapsed / n_run * totals["units_left"] if n_run else None
            flight = store.oldest_request_in_flight(job.id) if not n_run else None
            if flight and flight["num_prompt_tokens"]:
                n = flight["num_prompt_tokens"]
                rate = job.predicted_prefill_tps
                prefill = {"prefill_tokens": n, "prefill_elapsed_s": time.time() - flight["started_at"],
                           "prefill_predicted_s": n / rate if rate else None}
        return cls(job=job.name, status=status, units_total=sum(counts.values()),
                   units_done=counts["done"], units_failed=counts["failed"], units_pending=counts["pending"],
                   units_running=counts["running"], units_cancelled=counts["cancelled"],
                   prompt_tokens=totals["prompt_tokens"], cached_tokens=totals["cached_tokens"],
                   completion_tokens=totals["completion_tokens"], run_elapsed_s=elapsed, prompt_tps=prompt_tps,
                   completion_tps=completion_tps, cache_hit_units=totals["cache_hit_units"],
                   cache_hit_tokens=totals["cache_hit_tokens"], eta_s=eta, **prefill)

    def line(self) -> str:
        def rate(v: float | None) -> str:
            return f"{v:.0f}" if v is not None else "-"

        failed = f", {self.units_failed} failed" if self.units_failed else ""
        head = f"{self.job}: {self.units_done + self.units_failed}/{self.units_total} units{failed}"
        hits = f"cache hits {self.cache_hit_units} ({self.cache_hit_tokens} tokens reused)"
        left = self.units_pending + self.units_running
        if self.status == "interrupted" and left:
            return f"{head} | {hits} | stopped with {left} left: `heavylift resume {self.job}` finishes it"
        if self.prefill_tokens is not None:
            predicted = _duration(self.prefill_predicted_s) if self.prefill_predicted_s is not None else "unknown"
            return (f"{head} | prefill of {self.prefill_tokens} prompt tokens running for "
                    f"{_duration(self.prefill_elapsed_s or 0)} (predicted {predicted}) | {hits} | ETA unknown")
        if not left:
            eta = "finished"
        else:
            eta = "ETA " + (_duration(self.eta_s) if self.eta_s is not None else "unknown")
        return (f"{head} | prompt {rate(self.prompt_tps)} tok/s, generated {rate(self.completion_tps)} tok/s | "
                f"{hits} | {eta}")


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
