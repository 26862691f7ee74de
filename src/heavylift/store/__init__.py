"""Everything durable: one SQLite database with named, forward-only migrations."""

from heavylift.store.database import Database

__all__ = ["Database"]
