"""What a job is: its settings (stored with it, so `resume` runs it the same way), its row, its units."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from heavylift.analyze.prompts import TaskSpec

# A job: pending -> running -> done | interrupted (stopped with work left: Ctrl-C, SIGTERM, a lost
# endpoint, an engine that would not stay up; `resume` finishes it) | cancelled.
JOB_STATES = ("pending", "running", "done", "interrupted", "cancelled")
UNIT_STATES = ("pending", "running", "done", "failed", "cancelled")
DEFAULT_CTX_PER_SLOT = 8192
DEFAULT_KV_MAX_BYTES = 20 * 1024**3  # saved-KV folder cap; least recently used files go first


@dataclass
class JobConfig:
    """How a job runs; stored with it so `resume` runs it the same way."""

    tasks: list[TaskSpec]
    model: str = "default"
    endpoint: str | None = None
    parallel: int = 1
    ctx_per_slot: int = DEFAULT_CTX_PER_SLOT  # the engine gets -c ctx_per_slot*parallel -np parallel
    max_tokens: int = 512
    is_together: bool = False
    is_split: bool = False
    kv_save_min_tokens: int = 2048  # save a slot's KV to disk for prefixes at least this long
    kv_max_bytes: int = DEFAULT_KV_MAX_BYTES
    max_attempts: int = 3
    endpoint_wait_s: float = 30.0  # how long a down engine/endpoint is waited for before the job stops
    timeout_s: float | None = None  # per request; None: sized from the plan's predicted time to answer
    temperature: float = 0.0
    seed: int = 0
    engine_args: list[str] = field(default_factory=list)

    @property
    def ctx_total(self) -> int:
        """llama-server's -c: the KV cells shared by all slots."""
        return self.ctx_per_slot * self.parallel

    def changed(self, **changes: Any) -> tuple[JobConfig, str]:
        """A copy with these settings changed (resume), and a description of what differs ('' if nothing)."""
        from dataclasses import replace

        from heavylift.errors import UsageError

        if changes.get("engine_args") and self.endpoint:
            raise UsageError("engine arguments after `--` need our own engine; this job uses --endpoint")
        new = replace(self, **changes)
        said = [f"{k} {getattr(self, k)} -> {getattr(new, k)}" for k in changes if getattr(self, k) != getattr(new, k)]
        return new, ", ".join(said)

    def to_json(self) -> str:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["tasks"] = [t.to_dict() for t in self.tasks]
        return json.dumps(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobConfig:
        data = dict(data)
        if "ctx" in data and "ctx_per_slot" not in data:  # jobs stored before --ctx meant the total
            data["ctx_per_slot"] = data.pop("ctx")
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["tasks"] = [TaskSpec.from_dict(t) for t in data.get("tasks", [])]
        return cls(**data)


@dataclass
class Job:
    id: int
    name: str
    status: str
    config: JobConfig
    error: str | None
    pid: int | None
    engine_pid: int | None
    run_started_at: float | None
    created_at: str
    finished_at: str | None
    predicted_prefill_tps: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        data = {k: v for k, v in dict(row).items() if k in cls.__dataclass_fields__}
        data["config"] = JobConfig.from_dict(json.loads(data["config"]))
        if data["status"] == "failed":  # databases from before the one "stopped with work left" state
            data["status"] = "interrupted"
        return cls(**data)

    @property
    def is_process_alive(self) -> bool:
        return self.pid is not None and pid_alive(self.pid)

    @property
    def live_status(self) -> str:
        """`running` only while its process lives: a killed run reads as interrupted."""
        return "interrupted" if self.status == "running" and not self.is_process_alive else self.status


@dataclass
class Unit:
    id: int
    subject_id: int
    position: int  # the task's index in the job's task list
    task: TaskSpec
    role: str
    status: str
    attempts: int


def pid_alive(pid: int) -> bool:
    """psutil's view (Linux and macOS alike; a zombie is not alive)."""
    from heavylift.engines.processes import pid_alive as alive

    return alive(pid)


def ctx_per_slot_from(ctx: int | None, ctx_per_slot: int | None, parallel: int) -> int | None:
    """Tokens per slot from `--ctx` (the total, as llama.cpp's -c, split evenly over the slots) or
    `--ctx-per-slot`; None when neither is given. Both must agree when both are given."""
    from heavylift.errors import UsageError

    if ctx is not None and ctx_per_slot is not None and ctx != ctx_per_slot * parallel:
        raise UsageError(f"--ctx {ctx} (total) and --ctx-per-slot {ctx_per_slot} x --parallel {parallel} disagree; "
                         "give one of them")
    if ctx is not None:
        if ctx < parallel:
            raise UsageError(f"--ctx {ctx} is less than one token per slot for --parallel {parallel}")
        return ctx // parallel
    return ctx_per_slot
