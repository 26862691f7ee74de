"""Named, forward-only schema migrations. Append new ones; never edit or reorder applied ones."""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_models",
        """
        CREATE TABLE models (
            name TEXT PRIMARY KEY,
            path TEXT NOT NULL,          -- first (or only) part of the GGUF
            is_copy INTEGER NOT NULL,    -- 1: heavylift owns the file; 0: the user's file, referenced
            file_bytes INTEGER NOT NULL,
            source TEXT NOT NULL,        -- where it came from (a path, or a PyPI wheel and its sha256)
            added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
        );
        """,
    ),
]
