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


NAME_MAX_CHARS = 128
_NAME_PUNCTUATION = "._-+@"


def check_name(name: str, what: str) -> str:
    """A name that becomes a file or folder name (a job, a model, a file id, a batch id): one path
    component that cannot leave its folder. Letters, digits and . _ - + @, starting with a letter
    or digit, at most 128 characters; anything else is refused (UsageError), never rewritten."""
    from heavylift.errors import UsageError

    if not isinstance(name, str) or not name:
        raise UsageError(f"{what}: give a name")
    bad = sorted({c for c in name if not (c.isalnum() or c in _NAME_PUNCTUATION)})
    if bad or not name[0].isalnum() or len(name) > NAME_MAX_CHARS or ".." in name:
        shown = "".join(bad).encode("unicode_escape").decode() if bad else ""
        why = (f"it contains {shown!r}" if bad else "it must start with a letter or digit" if not name[0].isalnum()
               else f"it is longer than {NAME_MAX_CHARS} characters" if len(name) > NAME_MAX_CHARS else "it contains '..'")
        raise UsageError(f"{what} {name!r} cannot be used: {why}; use letters, digits and . _ - + @ "
                         "(it becomes a file name)")
    return name


def inside(folder: Path, name: str, what: str, suffix: str = "") -> Path:
    """folder/name+suffix for a checked name, verified to stay inside folder."""
    path = folder / (check_name(name, what) + suffix)
    if folder.resolve() not in path.resolve().parents:
        from heavylift.errors import UsageError

        raise UsageError(f"{what} {name!r} would leave {folder}; choose another")
    return path


def results_file(job_name: str) -> Path:
    """Where `analyze` and `resume` export a job's results (JSONL), inside the data folder."""
    return inside(_sub(data_dir(), "results"), job_name, "job name", ".jsonl")
