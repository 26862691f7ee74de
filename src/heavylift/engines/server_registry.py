"""Running `heavylift serve` instances announce themselves here so `ask` and `analyze` can reuse
them and `ps` / `stop` can find them: one small JSON file per serve process, named by its pid."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from heavylift import paths
from heavylift.engines.processes import pid_alive, started_by


@dataclass
class ServerRecord:
    model: str
    base_url: str
    pid: int  # the heavylift serve process
    ctx_size: int
    num_parallel: int
    has_api_key: bool
    started_at: float = field(default_factory=time.time)

    @property
    def port(self) -> int | None:
        try:
            return urlsplit(self.base_url).port
        except ValueError:
            return None

    @classmethod
    def from_dict(cls, data: dict) -> ServerRecord:
        """Tolerant of fields added or removed by other heavylift versions."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _folder() -> Path:
    folder = paths.data_dir() / "servers"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def announce(record: ServerRecord) -> Path:
    path = _folder() / f"{record.pid}.json"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(record)))
    tmp.replace(path)  # a reader never sees half a record
    return path


def withdraw(path: Path) -> None:
    path.unlink(missing_ok=True)


def running_servers() -> list[ServerRecord]:
    """Records whose serve process is still alive (stale ones are cleaned up)."""
    found = []
    for path in _folder().glob("*.json"):
        try:
            record = ServerRecord.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if not pid_alive(record.pid) or not started_by(record.pid, record.started_at):
            path.unlink(missing_ok=True)
            continue
        found.append(record)
    return sorted(found, key=lambda r: r.started_at)
