"""Files of the OpenAI Files API: bytes under `<data>/files/<id>`, metadata in the `files` table.

A client's file name is metadata only: the path on disk is made from a generated id checked
against ID_PATTERN, so nothing a client sends ever becomes a path. Uploads go to a `.part` file
that is renamed into place only once complete, so an aborted or oversize upload leaves nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from heavylift import paths
from heavylift.store import Database

ID_PATTERN = re.compile(r"file-[A-Za-z0-9]{8,64}")
PURPOSES = ("batch", "batch_output")  # what this server stores (uploads: batch only)
MAX_UPLOAD_BYTES = 200 * 1000 * 1000  # OpenAI's limit for a batch input file: "up to 200 MB"
STALE_PART_S = 3600.0  # a .part older than this is from a killed upload


@dataclass
class FileRecord:
    id: str
    filename: str
    purpose: str
    bytes: int
    sha256: str
    created_at: int
    expires_at: int | None = None

    def to_openai(self) -> dict:
        """OpenAI's File object (`status` is deprecated there; always 'processed' here)."""
        data = asdict(self)
        data.pop("sha256")
        return {"object": "file", **data, "status": "processed", "status_details": None}


def new_file_id() -> str:
    return "file-" + secrets.token_hex(12)


def files_dir() -> Path:
    folder = paths.data_dir() / "files"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def display_name(filename: str | None) -> str:
    """The last path component of what the client called it, printable, at most 255 chars."""
    name = (filename or "upload.jsonl").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip() or "upload.jsonl"
    return name[:255]


class FileStore:
    def __init__(self, db: Database, folder: Path | None = None):
        self.db = db
        self.folder = folder or files_dir()

    def path(self, file_id: str) -> Path:
        if not ID_PATTERN.fullmatch(file_id):
            raise ValueError(f"not a file id: {file_id!r}")
        return self.folder / file_id

    # -- writing ------------------------------------------------------------------------------
    def new_part(self) -> Path:
        return self.folder / f".upload-{secrets.token_hex(8)}.part"

    def commit(self, part: Path, filename: str, purpose: str, num_bytes: int, sha256: str) -> FileRecord:
        """A complete upload: rename into place, then record it (a crash between the two leaves an
        unrecorded file that `sweep` removes, never a record without its bytes)."""
        record = FileRecord(new_file_id(), display_name(filename), purpose, num_bytes, sha256, int(time.time()))
        os.replace(part, self.path(record.id))
        self._insert(record)
        return record

    def add_copy(self, source: Path, filename: str, purpose: str = "batch") -> FileRecord:
        """Copy a local file in (run-batch's input), streamed, with its hash."""
        part = self.new_part()
        digest = hashlib.sha256()
        size = 0
        try:
            with open(source, "rb") as src, open(part, "wb") as dst:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
                    dst.write(chunk)
            return self.commit(part, filename, purpose, size, digest.hexdigest())
        finally:
            part.unlink(missing_ok=True)

    def write_derived(self, file_id: str, filename: str, purpose: str, lines: Iterable[str]) -> FileRecord:
        """An output file with a fixed id (derived from its batch): written whole, then swapped in,
        so finalizing again after a crash rewrites the same file instead of adding a second."""
        part = self.new_part()
        digest = hashlib.sha256()
        size = 0
        try:
            with open(part, "wb") as out:
                for line in lines:
                    data = (line + "\n").encode()
                    digest.update(data)
                    size += len(data)
                    out.write(data)
                out.flush()
                os.fsync(out.fileno())
            record = FileRecord(file_id, filename, purpose, size, digest.hexdigest(), int(time.time()))
            os.replace(part, self.path(file_id))
        finally:
            part.unlink(missing_ok=True)
        self._insert(record, replace=True)
        return record

    def _insert(self, record: FileRecord, replace: bool = False) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        self.db.execute(f"{verb} INTO files(id, filename, purpose, bytes, sha256, created_at, expires_at) "
                        "VALUES (?,?,?,?,?,?,?)", tuple(asdict(record).values()))

    # -- reading ------------------------------------------------------------------------------
    def get(self, file_id: str) -> FileRecord | None:
        if not ID_PATTERN.fullmatch(file_id):
            return None
        row = self.db.execute("SELECT * FROM files WHERE id=?", (file_id,)).fetchone()
        return _record(row) if row else None

    def list(self, purpose: str | None = None, after: str | None = None, limit: int = 10000,
             order: str = "desc") -> tuple[list[FileRecord], bool]:
        """A page of files by creation time (then id); and whether more follow."""
        sql, params = "SELECT * FROM files WHERE 1=1", []
        if purpose:
            sql, params = sql + " AND purpose=?", [*params, purpose]
        direction = "DESC" if order == "desc" else "ASC"
        if after:
            anchor = self.db.execute("SELECT created_at, rowid FROM files WHERE id=?", (after,)).fetchone()
            if anchor:  # rowid breaks ties within a second in upload order
                op = "<" if order == "desc" else ">"
                sql += f" AND (created_at {op} ? OR (created_at = ? AND rowid {op} ?))"
                params += [anchor[0], anchor[0], anchor[1]]
        rows = self.db.execute(f"{sql} ORDER BY created_at {direction}, rowid {direction} LIMIT ?",
                               [*params, limit + 1]).fetchall()
        return [_record(r) for r in rows[:limit]], len(rows) > limit

    def delete(self, file_id: str) -> bool:
        if self.get(file_id) is None:
            return False
        self.db.execute("DELETE FROM files WHERE id=?", (file_id,))
        self.path(file_id).unlink(missing_ok=True)
        return True

    def sweep(self) -> int:
        """Remove what killed uploads left: stale .part files and files no record points to."""
        known = {r[0] for r in self.db.execute("SELECT id FROM files")}
        removed = 0
        now = time.time()
        for path in self.folder.iterdir():
            try:
                age = now - path.stat().st_mtime
            except OSError:
                continue
            stale_part = path.name.endswith(".part") and age > STALE_PART_S
            orphan = ID_PATTERN.fullmatch(path.name) and path.name not in known and age > 60
            if stale_part or orphan:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _record(row: sqlite3.Row) -> FileRecord:
    return FileRecord(**{k: row[k] for k in FileRecord.__dataclass_fields__})
