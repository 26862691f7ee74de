"""Durable verify runs (the verify_runs table): each names its two analysis jobs, and a side whose
inputs match an earlier run's side (same model file, documents, tasks and settings) reuses that job,
so a reference compared with four quants is computed once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from heavylift.analyze.prompts import TaskSpec
from heavylift.errors import UsageError
from heavylift.store import Database

DEFAULT_KLD_CHUNKS = 16
DEFAULT_KLD_CTX = 512  # llama-perplexity's default context (tools/perplexity/perplexity.cpp main)


@dataclass
class VerifyConfig:
    candidate: str
    docs: list[str]
    tasks: list[TaskSpec]
    reference: str | None = None
    reference_endpoint: str | None = None
    reference_model: str | None = None  # the `model` sent to an endpoint (OpenAI APIs require one)
    kld_text: list[str] | None = None
    kld_reference: str | None = None  # a higher-bit quant standing in for a reference too big to run
    kld_chunks: int = DEFAULT_KLD_CHUNKS
    kld_ctx: int = DEFAULT_KLD_CTX
    max_tokens: int = 256
    ctx: int = 8192  # tokens per engine slot (the CLI takes the total as --ctx, or --ctx-per-slot)
    parallel: int = 1
    min_f1: float = 0.5
    num_tolerance: float = 0.01
    endpoint_wait_s: float = 30.0
    engine_args: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        data = asdict(self)
        data["tasks"] = [t.to_dict() for t in self.tasks]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerifyConfig:
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["tasks"] = [TaskSpec.from_dict(t) for t in data.get("tasks", [])]
        return cls(**data)

    @property
    def reference_label(self) -> str:
        return self.reference or self.reference_endpoint or "?"


@dataclass
class VerifyRun:
    id: int
    name: str
    config: VerifyConfig
    fingerprint: str
    candidate_job_id: int | None
    reference_job_id: int | None
    kld: dict | None
    report: dict | None


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class VerifyStore:
    def __init__(self, db: Database | None = None):
        self.db = db or Database()

    def get(self, name: str) -> VerifyRun | None:
        row = self.db.execute("SELECT * FROM verify_runs WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        return VerifyRun(row["id"], row["name"], VerifyConfig.from_dict(json.loads(row["config"])), row["fingerprint"],
                         row["candidate_job_id"], row["reference_job_id"],
                         json.loads(row["kld"]) if row["kld"] else None,
                         json.loads(row["report"]) if row["report"] else None)

    def require(self, name: str) -> VerifyRun:
        run = self.get(name)
        if run is None:
            raise UsageError(f"no verify run named {name!r}; start one with `heavylift verify --candidate ... --name {name}`")
        return run

    def create(self, name: str, config: VerifyConfig, fingerprint: str) -> VerifyRun:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO verify_runs(name, config, fingerprint) VALUES (?,?,?)",
                         (name, config.to_json(), fingerprint))
        return self.require(name)

    def set_job(self, run: VerifyRun, side: str, job_id: int, key: str | None) -> None:
        assert side in ("candidate", "reference")
        self.db.execute(f"UPDATE verify_runs SET {side}_job_id=?, {side}_key=? WHERE id=?", (job_id, key, run.id))

    def reusable_job(self, key: str) -> int | None:
        """A job computed for the same side inputs by an earlier run (done ones first, then newest)."""
        row = self.db.execute(
            "SELECT j.id FROM jobs j JOIN (SELECT candidate_job_id AS job_id FROM verify_runs WHERE candidate_key=? "
            "UNION SELECT reference_job_id FROM verify_runs WHERE reference_key=?) k ON k.job_id = j.id "
            "WHERE j.status != 'cancelled' ORDER BY j.status = 'done' DESC, j.id DESC LIMIT 1", (key, key)).fetchone()
        return row[0] if row else None

    def save_kld(self, run: VerifyRun, kld: dict, key: str) -> None:
        self.db.execute("UPDATE verify_runs SET kld=? WHERE id=?", (json.dumps({**kld, "key": key}), run.id))

    def save_report(self, run: VerifyRun, report: dict) -> None:
        self.db.execute("UPDATE verify_runs SET report=?, finished_at=strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id=?",
                        (json.dumps(report), run.id))
