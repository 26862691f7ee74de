"""Bench runs, their results and the measured machine, in the database (all SQL for them is here)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

from heavylift.bench.machine import MachineInfo
from heavylift.bench.power import PowerReading
from heavylift.bench.results import ConfigResult
from heavylift.bench.sweep import BenchSettings
from heavylift.errors import UsageError
from heavylift.store import Database


@dataclass
class BenchRun:
    id: int
    status: str  # running | done | partial | failed (a 'running' run whose process is gone reads 'partial')
    fingerprint: str
    machine: MachineInfo
    target: str
    model: str | None
    quant: str | None
    engine: str | None
    engine_version: str | None
    engine_backend: str | None
    engine_args: list[str]
    placement: dict
    settings: BenchSettings
    configs: list[str]
    missing: dict[str, str]
    power: dict  # {"busy": PowerReading, "idle": PowerReading}
    llama_bench: dict
    notes: list[str]
    created_at: str
    finished_at: str | None
    results: list[ConfigResult] = field(default_factory=list)

    @property
    def power_busy(self) -> PowerReading | None:
        return PowerReading.from_dict(self.power.get("busy"))

    @property
    def power_idle(self) -> PowerReading | None:
        return PowerReading.from_dict(self.power.get("idle"))

    def to_dict(self) -> dict:
        return {"id": self.id, "status": self.status, "fingerprint": self.fingerprint, "machine": self.machine.to_dict(),
                "target": self.target, "model": self.model, "quant": self.quant, "engine": self.engine,
                "engine_version": self.engine_version, "engine_backend": self.engine_backend,
                "engine_args": self.engine_args, "placement": self.placement, "settings": self.settings.to_dict(),
                "configs": self.configs, "missing": self.missing, "power": self.power, "llama_bench": self.llama_bench,
                "notes": self.notes, "created_at": self.created_at, "finished_at": self.finished_at,
                "results": [r.to_dict() for r in self.results]}


class BenchStore:
    def __init__(self, db: Database | None = None):
        self.db = db or Database()

    # -- the machine ------------------------------------------------------------------------
    def machine(self, fingerprint: str) -> MachineInfo | None:
        row = self.db.execute("SELECT info FROM bench_machines WHERE fingerprint=?", (fingerprint,)).fetchone()
        return MachineInfo.from_dict(json.loads(row["info"])) if row else None

    def save_machine(self, info: MachineInfo) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO bench_machines(fingerprint, info) VALUES (?, ?)",
                         (info.fingerprint, json.dumps(info.to_dict())))

    # -- runs -------------------------------------------------------------------------------
    def create(self, machine: MachineInfo, target: str, settings: BenchSettings, configs: list[str], *,
               model: str | None, quant: str | None, engine: str, engine_version: str | None,
               engine_backend: str | None, engine_args: list[str], placement: dict, notes: list[str]) -> int:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO bench_runs(fingerprint, machine, target, model, quant, engine, engine_version, "
                "engine_backend, engine_args, placement, settings, configs, notes, pid) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (machine.fingerprint, json.dumps(machine.to_dict()), target, model, quant, engine, engine_version,
                 engine_backend, json.dumps(engine_args), json.dumps(placement), json.dumps(settings.to_dict()),
                 json.dumps(configs), json.dumps(notes), os.getpid()))
            return int(cur.lastrowid)

    def add_result(self, run_id: int, position: int, result: ConfigResult) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO bench_results(run_id, position, label, result) VALUES (?,?,?,?)",
                         (run_id, position, result.label, json.dumps(result.to_dict())))

    def update(self, run_id: int, **fields: object) -> None:
        """Set JSON-able columns (status, missing, power, llama_bench, notes, finished_at)."""
        cols = {k: (v if isinstance(v, str | int | float) or v is None else json.dumps(v)) for k, v in fields.items()}
        with self.db.transaction() as conn:
            conn.execute(f"UPDATE bench_runs SET {', '.join(f'{k}=?' for k in cols)} WHERE id=?",
                         (*cols.values(), run_id))

    def finish(self, run_id: int, status: str, missing: dict[str, str]) -> None:
        self.update(run_id, status=status, missing=missing, pid=None,
                    finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def get(self, ref: str | int) -> BenchRun:
        run_id = self.resolve_id(ref)
        row = self.db.execute("SELECT * FROM bench_runs WHERE id=?", (run_id,)).fetchone()
        results = [ConfigResult.from_dict(json.loads(r["result"])) for r in self.db.execute(
            "SELECT result FROM bench_results WHERE run_id=? ORDER BY position", (run_id,))]
        return _run(row, results)

    def list(self) -> list[BenchRun]:
        rows = self.db.execute("SELECT * FROM bench_runs ORDER BY id").fetchall()
        out = []
        for row in rows:
            results = [ConfigResult.from_dict(json.loads(r["result"])) for r in self.db.execute(
                "SELECT result FROM bench_results WHERE run_id=? ORDER BY position", (row["id"],))]
            out.append(_run(row, results))
        return out

    def resolve_id(self, ref: str | int) -> int:
        """A run id, or 'last' / 'latest' for the newest run."""
        text = str(ref).strip().lower()
        if text in ("last", "latest"):
            row = self.db.execute("SELECT max(id) FROM bench_runs").fetchone()
            if row[0] is None:
                raise UsageError("no bench runs yet; run `heavylift bench default` first")
            return int(row[0])
        if not text.isdigit():
            raise UsageError(f"{ref!r} is not a bench run id; `heavylift bench list` shows them")
        if not self.db.execute("SELECT 1 FROM bench_runs WHERE id=?", (int(text),)).fetchone():
            newest = self.db.execute("SELECT max(id) FROM bench_runs").fetchone()[0]
            known = f"runs are 1..{newest}" if newest else "there are no runs yet"
            raise UsageError(f"no bench run {text} ({known}); `heavylift bench list` shows them")
        return int(text)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run(row, results: list[ConfigResult]) -> BenchRun:
    status = row["status"]
    missing = json.loads(row["missing"] or "{}")
    configs = json.loads(row["configs"])
    notes = json.loads(row["notes"] or "[]")
    if status == "running" and not _pid_alive(row["pid"]):
        # The bench process was killed: what it stored stands, the rest is missing.
        status = "partial"
        done = {r.label for r in results}
        missing = {**{c: "the bench process stopped before measuring it" for c in configs if c not in done}, **missing}
    return BenchRun(id=row["id"], status=status, fingerprint=row["fingerprint"],
                    machine=MachineInfo.from_dict(json.loads(row["machine"])), target=row["target"],
                    model=row["model"], quant=row["quant"], engine=row["engine"], engine_version=row["engine_version"],
                    engine_backend=row["engine_backend"], engine_args=json.loads(row["engine_args"] or "[]"),
                    placement=json.loads(row["placement"] or "{}"), settings=BenchSettings.from_dict(json.loads(row["settings"])),
                    configs=configs, missing=missing, power=json.loads(row["power"] or "{}"),
                    llama_bench=json.loads(row["llama_bench"] or "{}"), notes=notes, created_at=row["created_at"],
                    finished_at=row["finished_at"], results=results)
