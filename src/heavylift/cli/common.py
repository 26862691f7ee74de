"""Small helpers shared by the subcommand modules."""

from __future__ import annotations

import argparse
import signal
import sys


def say(message: str) -> None:
    """Status lines go to stderr so stdout stays clean for answers and --json."""
    print(message, file=sys.stderr, flush=True)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero")
    return value


def port_number(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return value


def human_bytes(n: float | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TiB"


def sigterm_as_interrupt() -> None:
    """SIGTERM (from `kill`, systemd, a container stop) takes the same graceful path as Ctrl-C."""

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run_analysis_job(store, job, progress_interval_s: float | None) -> int:
    """Run an analysis job (`analyze`, `resume`) and say where its results are. Exit status: 0 done,
    1 stopped with work left (interrupted: resume it) or cancelled."""
    from heavylift.analyze.job_runner import run_and_export

    sigterm_as_interrupt()
    outcome = run_and_export(store, job, say, progress_interval_s)
    say(f"analyze: results in {outcome.results_path}  (or `heavylift results {job.name} --format jsonl|csv|md`)")
    if outcome.status == "interrupted":
        say(f"analyze: stopped with work left; finish it with `heavylift resume {job.name}`")
    print(outcome.results_path)
    return 0 if outcome.status == "done" else 1
