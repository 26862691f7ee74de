"""What heavylift has running on this machine (`heavylift ps`) and stopping one (`heavylift stop`).

Three kinds: `serve` processes (from the server registry), analysis `job`s whose process is alive
(from the job store), and `engine`s: llama-servers started from our engine build that belong to
neither — orphans left by a killed run (on macOS there is no parent-death signal to stop them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from heavylift.engines import processes
from heavylift.errors import UsageError


@dataclass
class Running:
    kind: str  # serve | job | engine
    name: str  # the served model, the job's name, or "orphan"
    pid: int
    port: int | None
    model: str | None
    rss_bytes: int | None  # the process and everything it started (its engine)
    engine_pid: int | None
    started_at: float | None  # Unix time
    detail: str

    @property
    def uptime_s(self) -> float | None:
        return time.time() - self.started_at if self.started_at else None


def list_running() -> list[Running]:
    found = _serves() + _jobs()
    owned = {r.pid for r in found} | {r.engine_pid for r in found if r.engine_pid}
    for pid in {r.pid for r in found}:
        owned |= {c.pid for c in processes.children(pid)}
    return found + [e for e in _engines() if e.pid not in owned]


def _engine_child(pid: int) -> int | None:
    for child in processes.children(pid):
        if "llama-server" in " ".join(processes.cmdline(child.pid)[:1]):
            return child.pid
    return None


def _serves() -> list[Running]:
    from heavylift.engines.server_registry import running_servers

    out = []
    for s in running_servers():
        engine = _engine_child(s.pid)
        out.append(Running("serve", s.model, s.pid, s.port, s.model, processes.rss_bytes(s.pid), engine,
                           s.started_at, f"{s.base_url}/v1, ctx {s.ctx_size} x {s.num_parallel} slot(s)"
                           + (", key required" if s.has_api_key else "")))
    return out


def _jobs() -> list[Running]:
    from heavylift.analyze.jobs import JobStore

    out = []
    store = JobStore()
    try:
        for job in store.list():
            if job.status != "running" or not job.is_process_alive:
                continue
            counts = store.counts(job.id)
            total = sum(counts.values())
            engine = job.engine_pid if processes.pid_alive(job.engine_pid) else _engine_child(job.pid)
            where = job.config.endpoint or job.config.model
            port = _flag(processes.cmdline(engine), ("--port",)) if engine else None
            out.append(Running("job", job.name, job.pid, int(port) if port and port.isdigit() else None, where,
                               processes.rss_bytes(job.pid), engine,
                               job.run_started_at, f"{counts['done']} of {total} units done"))
    finally:
        store.db.close()
    return out


def _engine_dirs() -> list[Path]:
    from heavylift.errors import HeavyliftError
    from heavylift.setup.engine_build import current_engine

    try:
        return [Path(current_engine().bin_dir)]
    except (HeavyliftError, OSError, ValueError):
        return []


def _engines() -> list[Running]:
    """Our llama-servers: grouped under the heavylift command that started them (bench, verify,
    a serve of another data folder, ...), or orphans when that process is gone."""
    by_owner: dict[int, list] = {}
    out = []
    for proc in processes.our_engines(_engine_dirs()):
        owner = processes.heavylift_parent(proc.pid)
        if owner is None:
            out.append(_engine_row(proc, "orphan", proc.pid, "llama-server whose heavylift process is gone; "
                                   "`heavylift stop` it"))
        else:
            by_owner.setdefault(owner, []).append(proc)
    for owner, procs in by_owner.items():
        command = processes.heavylift_command(processes.cmdline(owner))
        row = _engine_row(procs[0], command, owner, f"started by `heavylift {command}` (pid {owner})"
                          + (f", {len(procs)} engines" if len(procs) > 1 else ""))
        row.rss_bytes = processes.rss_bytes(owner)
        out.append(row)
    return out


def _engine_row(proc, name: str, pid: int, detail: str) -> Running:
    argv = processes.cmdline(proc.pid)
    model = _flag(argv, ("--alias", "-a")) or Path(_flag(argv, ("-m", "--model")) or "?").name
    port = _flag(argv, ("--port",))
    try:
        started = proc.create_time()
    except Exception:  # noqa: BLE001 - gone in between
        started = None
    return Running("engine", name, pid, int(port) if port and port.isdigit() else None, model,
                   processes.rss_bytes(proc.pid), proc.pid, started, detail)


def _flag(argv: list[str], names: tuple[str, ...]) -> str | None:
    for i, word in enumerate(argv[:-1]):
        if word in names:
            return argv[i + 1]
    return None


def find(target: str, running: list[Running] | None = None) -> Running:
    """The one process `target` names: a port, a pid, a job name or a served model's name."""
    running = list_running() if running is None else running
    matches: list[Running] = []
    if target.isdigit():
        number = int(target)
        matches = [r for r in running if r.port == number] or [r for r in running if number in (r.pid, r.engine_pid)]
    else:
        matches = [r for r in running if r.name == target] or [r for r in running if r.model == target]
    if not matches:
        listed = ", ".join(f"{r.kind} {r.name} (port {r.port}, pid {r.pid})" for r in running) or "nothing is running"
        raise UsageError(f"nothing running is called {target!r}; running: {listed} (see `heavylift ps`)")
    if len(matches) > 1:
        which = ", ".join(f"{r.kind} {r.name} on port {r.port} (pid {r.pid})" for r in matches)
        raise UsageError(f"{target!r} names {len(matches)} processes: {which}; give a port or a pid")
    return matches[0]


def stop_running(item: Running, timeout_s: float) -> str:
    """Gracefully (SIGTERM: serve stops its engine, a job stops after committing what is done and
    can be resumed), then by force after timeout_s. Returns 'stopped', 'killed' or 'gone'."""
    outcome = processes.stop(item.pid, timeout_s, group=item.name == "orphan")  # an engine leads its own group
    if item.engine_pid and item.engine_pid != item.pid and processes.pid_alive(item.engine_pid):
        processes.stop(item.engine_pid, 5.0, group=True)  # its engine, in its own process group
        outcome = "killed"
    return outcome
