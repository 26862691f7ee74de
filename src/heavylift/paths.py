"""Where heavylift keeps per-user state.

XDG dirs by default; HEAVYLIFT_HOME puts everything under one folder; HEAVYLIFT_CACHE_DIR and
HEAVYLIFT_DATA_DIR override each part (tests share the cached engine build but not the database).
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def home() -> Path | None:
    value = os.environ.get("HEAVYLIFT_HOME")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Engine builds, downloaded packages and model files (large, re-creatable)."""
    if os.environ.get("HEAVYLIFT_CACHE_DIR"):
        path = Path(os.environ["HEAVYLIFT_CACHE_DIR"]).expanduser()
    elif root := home():
        path = root / "cache"
    else:
        path = _xdg("XDG_CACHE_HOME", ".cache") / "heavylift"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The database, logs and saved KV slots (what must survive)."""
    if os.environ.get("HEAVYLIFT_DATA_DIR"):
        path = Path(os.environ["HEAVYLIFT_DATA_DIR"]).expanduser()
    elif root := home():
        path = root / "data"
    else:
        path = _xdg("XDG_DATA_HOME", ".local/share") / "heavylift"
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def engine_dir() -> Path:
    path = cache_dir() / "engine"
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs_dir() -> Path:
    path = data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_path() -> Path:
    return data_dir() / "heavylift.db"


def slots_dir() -> Path:
    """Saved KV-cache slots (llama-server --slot-save-path)."""
    path = data_dir() / "slots"
    path.mkdir(parents=True, exist_ok=True)
    return path
