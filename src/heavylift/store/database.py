"""The SQLite connection: WAL, foreign keys, migrations applied on open."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from heavylift import paths
from heavylift.errors import HeavyliftError
from heavylift.store.migrations import MIGRATIONS


class StoreError(HeavyliftError):
    """The database file cannot be used by this version."""


class Database:
    """One connection per process; `transaction()` commits atomically or rolls back."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else paths.database_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so a unit's rows land together.
        self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.migrate()

    def migrate(self) -> list[str]:
        """Apply pending migrations in order; returns the names applied."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL "
            "DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))"
        )
        applied = {row[0] for row in self.conn.execute("SELECT name FROM _migrations")}
        foreign = sorted(applied - {name for name, _ in MIGRATIONS})
        done = []
        for name, sql in MIGRATIONS:
            if name in applied:
                continue
            try:
                with self.transaction():
                    # Another process may have applied it since we looked.
                    if self.conn.execute("SELECT 1 FROM _migrations WHERE name=?", (name,)).fetchone():
                        continue
                    for statement in _statements(sql):
                        self.conn.execute(statement)
                    self.conn.execute("INSERT INTO _migrations(name) VALUES (?)", (name,))
            except sqlite3.OperationalError as e:
                # Typically a database another heavylift version wrote (its migrations differ from ours):
                # nothing was changed (the transaction rolled back), so say what to do instead of crashing.
                other = f" (it has migrations this version does not know: {', '.join(foreign)})" if foreign else ""
                raise StoreError(f"database {self.path} cannot be upgraded to this heavylift version: migration {name} "
                                 f"failed ({e}){other}; use the heavylift version that wrote it, or move the file "
                                 "aside (or set HEAVYLIFT_DATA_DIR) to start a new one") from None
            done.append(name)
        return done

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def close(self) -> None:
        self.conn.close()


def _statements(script: str) -> list[str]:
    """Split a migration into statements (sqlite3.complete_statement knows comments and triggers)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
