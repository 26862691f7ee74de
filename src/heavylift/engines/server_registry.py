"""Running `heavylift serve` instances announce themselves here so `ask` and `analyze` can reuse them."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from heavylift import paths


@dataclass
class ServerRecord:
    model: str
    base_url: str
    pid: int  # the heavylift serve process
    ctx_size: int
    num_parallel: int
    has_api_key: bool


def _folder() -> Path:
    folder = paths.data_dir() / "servers"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def announce(record: ServerRecord) -> Path:
    path = _folder() / f"{record.pid}.json"
    path.write_text(json.dumps(asdict(record)))
    return path


def withdraw(path: Path) -> None:
    path.unlink(missing_ok=True)


def running_servers() -> list[ServerRecord]:
    """Records whose serve process is still alive (stale ones are cleaned up)."""
    found = []
    for path in _folder().glob("*.json"):
        try:
            record = ServerRecord(**json.loads(path.read_text()))
            os.kill(record.pid, 0)
        except (ValueError, TypeError, ProcessLookupError, FileNotFoundError):
            path.unlink(missing_ok=True)
            continue
        except PermissionError:
            pass
        found.append(record)
    return found
