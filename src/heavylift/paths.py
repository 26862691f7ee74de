"""Where heavylift keeps per-user state.

XDG dirs by default; HEAVYLIFT_HOME puts everything under one folder; HEAVYLIFT_CACHE_DIR and
HEAVYLIFT_DATA_DIR override each part (tests share the cached engine build but not the database).
The variables are read through heavylift.settings, like every other.
"""

from __future__ import annotations

from pathlib import Path

from heavylift import settings


def _root(override_var: str, home_sub: str, xdg_var: str, xdg_fallback: str) -> Path:
    if (override := settings.get(override_var)) is not None:
        path = override
    elif (home := settings.get("HEAVYLIFT_HOME")) is not None:
        path = home / home_sub
    else:
        path = (settings.get(xdg_var) or Path.home() / xdg_fallback) / "heavylift"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sub(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Engine builds, downloaded packages and model files (large, re-creatable)."""
    return _root("HEAVYLIFT_CACHE_DIR", "cache", "XDG_CACHE_HOME", ".cache")


def data_dir() -> Path:
    """The database, logs and saved KV slots (what must survive)."""
    return _root("HEAVYLIFT_DATA_DIR", "data", "XDG_DATA_HOME", ".local/share")


def models_dir() -> Path:
    return _sub(cache_dir(), "models")


def engine_dir() -> Path:
    return _sub(cache_dir(), "engine")


def logs_dir() -> Path:
    return _sub(data_dir(), "logs")


def slots_dir() -> Path:
    """Saved KV-cache slots (llama-server --slot-save-path), shared by serve and analyze."""
    return _sub(data_dir(), "kv-slots")


def database_path() -> Path:
    return data_dir() / "heavylift.db"
