"""The processes heavylift starts, seen through psutil so Linux and macOS behave alike: is a pid
alive, what runs there, how much memory it holds, stop it (gracefully, then by force), and which
llama-servers of ours are running."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil


def pid_alive(pid: int | None) -> bool:
    """True while the process exists and is not a zombie (killed, not yet reaped)."""
    if not pid or pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's process: it exists
        return True


def started_by(pid: int, when: float, slack_s: float = 2.0) -> bool:
    """Is `pid` still the process that was running at time `when` (not a later one given the same
    pid after it exited)?"""
    try:
        return psutil.Process(pid).create_time() <= when + slack_s
    except psutil.Error:
        return False


def cmdline(pid: int) -> list[str]:
    """The process's argv ([] if it is gone or not readable)."""
    try:
        return psutil.Process(pid).cmdline()
    except (psutil.Error, OSError):
        return []


def rss_bytes(pid: int, with_children: bool = True) -> int | None:
    """Resident memory of the process (and everything it started); None if not readable."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *(proc.children(recursive=True) if with_children else [])]
    except psutil.Error:
        return None
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def stop(pid: int, timeout_s: float = 30.0, *, group: bool = False) -> str:
    """SIGTERM (the whole process group when `group`, as for an engine started in its own
    session), wait up to timeout_s, then SIGKILL what is left, children included.
    Returns 'stopped' (exited on SIGTERM), 'killed' (needed SIGKILL) or 'gone' (was not running)."""
    if not pid_alive(pid):
        return "gone"
    family = [psutil.Process(pid), *children(pid)]
    _signal(pid, signal.SIGTERM, group)
    outcome = "stopped"
    # polled with pid_alive, not psutil.wait_procs: a process that is not our child stays a zombie
    # until its own parent reaps it, and a zombie has stopped
    if not wait_gone(pid, timeout_s):
        outcome = "killed"
        _signal(pid, signal.SIGKILL, group)
    for p in family[1:]:  # what it started and left behind (an engine in its own group)
        if pid_alive(p.pid):
            try:
                p.kill()
            except psutil.Error:
                pass
    for p in family:
        wait_gone(p.pid, 5.0)
    return outcome


def _signal(pid: int, sig: int, group: bool) -> None:
    try:
        if group and hasattr(os, "killpg"):
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def our_engines(binary_dirs: list[Path]) -> list[psutil.Process]:
    """llama-server processes started from one of our engine builds (this user's)."""
    dirs = [str(d.resolve()) for d in binary_dirs if d]
    found = []
    for proc in psutil.process_iter(["pid", "name", "exe", "cmdline", "username"]):
        try:
            argv0 = (proc.info["cmdline"] or [""])[0]
            exe = proc.info["exe"] or argv0
            if "llama-server" not in os.path.basename(exe or "") and "llama-server" not in (proc.info["name"] or ""):
                continue
            if any(str(Path(exe).resolve()).startswith(d) or argv0.startswith(d) for d in dirs):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def heavylift_command(argv: list[str]) -> str:
    """The subcommand in a heavylift process's argv (`.../heavylift serve ...`, `python -m heavylift
    bench ...`), or "" when argv is not heavylift's."""
    for i, word in enumerate(argv):
        if word == "heavylift" or os.path.basename(word) == "heavylift":
            rest = [w for w in argv[i + 1:] if not w.startswith("-")]
            return rest[0] if rest else "heavylift"
    return ""


def heavylift_parent(pid: int) -> int | None:
    """The pid of the live heavylift process that started `pid`, or None (an orphan)."""
    try:
        parent = psutil.Process(pid).parent()
    except psutil.Error:
        return None
    if parent is None or parent.pid <= 1 or not pid_alive(parent.pid):
        return None
    return parent.pid if heavylift_command(cmdline(parent.pid)) else None


def wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)
