"""The model store: names for GGUF files, kept in the database."""

from __future__ import annotations

import difflib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from heavylift import paths
from heavylift.errors import ModelError, UnknownModelError
from heavylift.models.default_model import DEFAULT_MODEL_NAME
from heavylift.models.gguf_file import GGUFFile, split_parts
from heavylift.store import Database

ALIASES = {"default": DEFAULT_MODEL_NAME}


@dataclass
class StoredModel:
    name: str
    path: Path
    is_copy: bool
    file_bytes: int
    source: str
    added_at: str

    @property
    def is_missing(self) -> bool:
        """The file was moved or deleted since it was added (the entry is kept until `models rm`)."""
        return not self.path.exists()


class ModelStore:
    def __init__(self, db: Database | None = None):
        self.db = db or Database()

    def list(self) -> list[StoredModel]:
        rows = self.db.execute("SELECT * FROM models ORDER BY name").fetchall()
        return [_model(r) for r in rows]

    def names(self) -> list[str]:
        return [m.name for m in self.list()]

    def get(self, name: str) -> StoredModel:
        model = self._entry(name)
        if model.is_missing:
            raise ModelError(f"model {model.name!r} points at {model.path}, which is gone; `heavylift models rm {model.name}` and add it again")
        return model

    def _entry(self, name: str) -> StoredModel:
        """The stored entry, whether or not its file is still there."""
        name = ALIASES.get(name, name)
        row = self.db.execute("SELECT * FROM models WHERE name=?", (name,)).fetchone()
        if row is None:
            close = difflib.get_close_matches(name, self.names() + list(ALIASES), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else "see `heavylift models list`"
            if name == DEFAULT_MODEL_NAME:
                hint = "run `heavylift setup` to install it"
            raise UnknownModelError(f"unknown model {name!r}; {hint}")
        return _model(row)

    def resolve(self, name_or_path: str) -> StoredModel:
        """A stored name, an alias, or a path to a GGUF file (used in place, not registered)."""
        looks_like_path = "/" in name_or_path or name_or_path.endswith(".gguf")
        if looks_like_path:
            path = Path(name_or_path).expanduser()
            gguf = GGUFFile.read(path)
            return StoredModel(path.stem, path, False, gguf.file_bytes, str(path), "")
        return self.get(name_or_path)

    def add(self, path: Path, name: str | None = None, copy: bool = False, source: str | None = None,
            replace: bool = False) -> StoredModel:
        path = path.expanduser().resolve() if path.exists() else path
        gguf = GGUFFile.read(path)  # validates every split part before anything is stored
        name = (name or _default_name(path)).lower()
        paths.check_name(name, "model name")  # a copied model's folder is named after it
        if name in ALIASES:
            raise ModelError(f"{name!r} is reserved; choose another --name")
        existing = self.db.execute("SELECT path FROM models WHERE name=?", (name,)).fetchone()
        if existing and not replace and Path(existing["path"]) != path:
            raise ModelError(f"a model named {name!r} already exists; pass --name to choose another")
        stored_path = path
        if copy:
            folder = paths.models_dir() / name
            folder.mkdir(parents=True, exist_ok=True)
            for part in split_parts(path):
                if not (folder / part.name).exists():
                    shutil.copyfile(part, folder / (part.name + ".partial"))
                    (folder / (part.name + ".partial")).replace(folder / part.name)
            stored_path = folder / path.name
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO models(name, path, is_copy, file_bytes, source) VALUES (?,?,?,?,?)",
                         (name, str(stored_path), int(copy), gguf.file_bytes, source or str(path)))
        return self.get(name)

    def remove(self, name: str) -> StoredModel:
        model = self._entry(name)  # an entry whose file is gone can be removed too
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM models WHERE name=?", (model.name,))
        if model.is_copy and model.path.parent.parent == paths.models_dir():
            shutil.rmtree(model.path.parent, ignore_errors=True)
        return model


def _default_name(path: Path) -> str:
    stem = re.sub(r"-\d{5}-of-\d{5}$", "", path.stem)
    return re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._")[:128].strip("-._") or "model"


def _model(row) -> StoredModel:
    return StoredModel(row["name"], Path(row["path"]), bool(row["is_copy"]), row["file_bytes"],
                       row["source"], row["added_at"])
