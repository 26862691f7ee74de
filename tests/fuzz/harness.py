"""Run inputs through an entry point and sort each outcome: accepted, refused with a one-line
HeavyliftError (what the CLI turns into `heavylift: error: ...` and a non-zero exit), or an
escape — any other exception, a multi-line message, or a hang."""

from __future__ import annotations

import signal
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from heavylift.errors import HeavyliftError

SUMMARY: dict[str, dict[str, int]] = {}  # target -> counts, printed at the end of the session


class _Hang(Exception):
    pass


@dataclass
class Report:
    target: str
    accepted: int = 0
    refused: int = 0
    escapes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.accepted + self.refused + len(self.escapes)

    def assert_clean(self) -> None:
        SUMMARY[self.target] = {"inputs": self.total, "accepted": self.accepted, "refused": self.refused,
                                "escapes": len(self.escapes)}
        assert not self.escapes, f"{len(self.escapes)} of {self.total} inputs escaped:\n" + "\n".join(self.escapes[:20])


def run_all(target: str, inputs: Iterable[tuple[str, Any]], fn: Callable[[Any], object],
            timeout_s: int = 20) -> Report:
    """`inputs`: (label, value) pairs; the label says how to reproduce a failure (seed, index)."""
    report = Report(target)

    def on_alarm(_signum, _frame):
        raise _Hang

    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        for label, value in inputs:
            signal.alarm(timeout_s)
            try:
                fn(value)
                report.accepted += 1
            except HeavyliftError as e:
                text = str(e)
                if not text or "\n" in text or "Traceback" in text:
                    report.escapes.append(f"{label}: multi-line or empty message: {text[:300]!r}")
                else:
                    report.refused += 1
            except _Hang:
                report.escapes.append(f"{label}: no answer within {timeout_s}s")
            except Exception as e:  # noqa: BLE001 - an escape is what we are looking for
                where = traceback.extract_tb(e.__traceback__)[-1]
                report.escapes.append(f"{label}: {type(e).__name__} at {where.filename.split('/src/')[-1]}:"
                                      f"{where.lineno}: {str(e)[:200]}")
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)
    return report
