"""Files a command writes where the user said (--out, --plot, ...): never over a file heavylift did
not write, unless --force; never half-written.

A file counts as ours while it is exactly as we left it: its path, size, modification time and
inode are recorded in the data folder when we write it. Re-running a command replaces its own
earlier output; a file someone else wrote (or edited since) is refused with a one-line error.
Writes go to a temporary file beside the target and are renamed over it only when complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from heavylift import paths
from heavylift.errors import UsageError

_MAX_RECORDS = 2000


def _record_path() -> Path:
    return paths.data_dir() / "written-files.json"


def _fingerprint(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _load() -> dict[str, list[int]]:
    try:
        data = json.loads(_record_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_ours(path: Path) -> bool:
    """Did heavylift write this file, and is it unchanged since?"""
    path = path.expanduser().resolve()
    mark = _fingerprint(path)
    return mark is not None and _load().get(str(path)) == mark


def check_writable(path: Path, force: bool, flag: str) -> Path:
    """Refuse (UsageError) a target that exists and is not ours, unless force; a folder always."""
    path = path.expanduser()
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file name")
    if path.exists() and not force and not is_ours(path):
        raise UsageError(f"{flag} {path} exists and heavylift did not write it (or it changed since); "
                         "pass --force to overwrite it, or choose another file")
    if not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: folder {path.parent} does not exist; create it or choose another path")
    return path


def remember(path: Path) -> None:
    """Record a file we have just written completely (so a re-run may replace it)."""
    from heavylift.setup.file_lock import file_lock

    record = _record_path()
    with file_lock(record.with_suffix(".lock"), say=lambda _msg: None):
        data = _load()
        data[str(path.resolve())] = _fingerprint(path) or []
        # forget files that are gone or changed, and the oldest beyond the cap
        data = {p: m for p, m in data.items() if _fingerprint(Path(p)) == m}
        data = dict(list(data.items())[-_MAX_RECORDS:])
        tmp = record.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(record)


@contextmanager
def replacing(path: Path, *, force: bool, flag: str) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix, so writers that infer the format from
    it work); on success it replaces `path` and is recorded as ours, on failure it is removed."""
    path = check_writable(path, force, flag)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes it 0600; the output gets the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"cannot write {path} ({e.strerror or e}); choose another {flag}") from None
    finally:
        tmp.unlink(missing_ok=True)
    remember(path)


def write_text(path: Path, text: str, *, force: bool, flag: str = "--out") -> Path:
    with replacing(path, force=force, flag=flag) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
