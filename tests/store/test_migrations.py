"""Migrations: applied once, in order; a database another version wrote gets a one-line error."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from heavylift.store import Database
from heavylift.store.database import StoreError
from heavylift.store.migrations import MIGRATIONS


def test_fresh_database_applies_every_migration_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "h.db")
    assert [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")] == [n for n, _ in MIGRATIONS]
    assert db.migrate() == []  # reopening applies nothing
    db.close()


def test_database_from_another_version_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "heavylift.db"
    Database(path).close()
    conn = sqlite3.connect(path)  # what a development build left: a later migration under another name
    last = MIGRATIONS[-1][0]
    conn.execute("DELETE FROM _migrations WHERE name=?", (last,))
    conn.execute("INSERT INTO _migrations(name) VALUES ('099_renamed')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"migration {last} failed .* 099_renamed.*move the file aside"):
        Database(path)
    proc = subprocess.run([sys.executable, "-m", "heavylift", "jobs"], capture_output=True, text=True,
                          env={"HEAVYLIFT_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "cannot be upgraded" in proc.stderr
