"""Checking the bad-input contract: one error line (after any progress lines), the exit code, no traceback."""

from __future__ import annotations

import subprocess


def one_line_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The error line of a CLI run that must have failed with `code`."""
    assert proc.returncode == code, proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr and lines and lines[-1].startswith("heavylift: error: "), proc.stderr[-2000:]
    assert sum(ln.startswith("heavylift: error") for ln in lines) == 1
    return lines[-1]
