"""Saved KV-cache files (llama-server `POST /slots/{id}?action=save|restore`): what a file's name
covers, a size cap with least-recently-used eviction, and the architectures whose restore proved
to be a no-op on an engine build (so nothing more is saved for them there).

A saved state is only valid for the exact model file, KV cache type, context layout and engine build
that wrote it: restoring it elsewhere either fails or, worse, loads cells computed by other weights
(llama_state_seq_load_file checks sizes and types, not which weights made them). So the file name
carries a key over all of them, and a changed setting simply never finds the old file."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from heavylift import paths
from heavylift.store import Database

_SAMPLE_BYTES = 1 << 20
_NUM_SAMPLES = 8


def kv_dir() -> Path:
    """Where saved slots live: the folder `heavylift serve` also gives llama-server."""
    return paths.slots_dir()


def model_fingerprint(path: Path) -> str:
    """The model file's identity by content, cheaply: its size and 1 MiB samples at 8 evenly spaced
    offsets of each part (header and tensor data: a re-quantized or fine-tuned file differs there),
    so a moved or copied file keeps its saved KV and a replaced one does not."""
    from heavylift.models.gguf_file import split_parts

    h = hashlib.sha256()
    for part in split_parts(path) if path.exists() else [path]:
        try:
            size = part.stat().st_size
            h.update(f"{part.name}:{size}".encode())
            with open(part, "rb") as f:
                for i in range(_NUM_SAMPLES):
                    f.seek(max(0, (size - _SAMPLE_BYTES) * i // (_NUM_SAMPLES - 1)))
                    h.update(f.read(_SAMPLE_BYTES))
        except OSError:
            h.update(str(part).encode())  # unreadable here: fall back to the path
    return h.hexdigest()[:16]


def cache_key(model_fingerprint: str, engine_build: str, engine_args: list[str], ctx_per_slot: int,
              num_slots: int) -> str:
    """What a saved state depends on besides its tokens: the model file, the engine build (its version,
    backend and build flags), every engine argument (KV type -ctk/-ctv, flash attention, --swa-full,
    ...), and the context layout (cells per slot, number of slots)."""
    text = "\n".join([model_fingerprint, engine_build, " ".join(engine_args), f"ctx/slot={ctx_per_slot}",
                      f"slots={num_slots}"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def local_build_id() -> str:
    """Our own engine build, as a saved state depends on it: version, backend and build flags."""
    from heavylift.setup.engine_build import current_engine

    build = current_engine()
    return f"{build.version} {build.backend} {' '.join(build.flags)}"


def local_cache_key(model_path: str | Path, engine_args: list[str], ctx_total: int, num_slots: int) -> str:
    """cache_key for an engine we start ourselves (serve, run-batch): -c is split over the slots."""
    return cache_key(model_fingerprint(Path(model_path)), local_build_id(), list(engine_args),
                     ctx_total // max(1, num_slots), num_slots)


def kv_file_name(prefix_text: str, key: str) -> str:
    """The saved-KV file for a prompt prefix under a cache key."""
    return f"{hashlib.sha256(prefix_text.encode()).hexdigest()[:32]}-{key}.bin"


@dataclass
class KVFile:
    name: str
    num_bytes: int
    num_tokens: int | None
    model: str | None
    architecture: str | None
    created_at: float | None
    last_used_at: float | None
    is_indexed: bool = True  # written by analyze (managed); False: found in the folder (e.g. `serve` users' saves)


class KVCacheStore:
    """The index of saved KV files (table kv_files) next to the files themselves."""

    def __init__(self, db: Database | None = None, folder: Path | None = None):
        self.db = db or Database()
        self.folder = folder or kv_dir()

    def record_save(self, name: str, num_bytes: int, num_tokens: int | None, model: str | None,
                    architecture: str | None) -> None:
        now = time.time()
        self.db.execute("INSERT OR REPLACE INTO kv_files(name, num_bytes, num_tokens, model, architecture, created_at, "
                        "last_used_at) VALUES (?,?,?,?,?,?,?)", (name, num_bytes, num_tokens, model, architecture, now, now))

    def touch(self, name: str) -> None:
        self.db.execute("UPDATE kv_files SET last_used_at=? WHERE name=?", (time.time(), name))

    def files(self) -> list[KVFile]:
        """Every saved file, least recently used first; index rows whose file is gone are dropped."""
        on_disk = {p.name: p for p in self.folder.glob("*.bin")}
        out: list[KVFile] = []
        for r in self.db.execute("SELECT * FROM kv_files ORDER BY last_used_at").fetchall():
            if r["name"] not in on_disk:
                self.db.execute("DELETE FROM kv_files WHERE name=?", (r["name"],))
                continue
            on_disk.pop(r["name"])
            out.append(KVFile(r["name"], r["num_bytes"], r["num_tokens"], r["model"], r["architecture"],
                              r["created_at"], r["last_used_at"]))
        for name, path in sorted(on_disk.items()):
            try:
                stat = path.stat()
            except OSError:
                continue
            out.append(KVFile(name, stat.st_size, None, None, None, None, stat.st_mtime, is_indexed=False))
        return out

    def remove(self, names: list[str]) -> int:
        """Delete these files and their index rows; returns the bytes freed."""
        freed = 0
        for name in names:
            path = self.folder / name
            try:
                freed += path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                pass
            self.db.execute("DELETE FROM kv_files WHERE name=?", (name,))
        return freed

    def evict(self, max_bytes: int, keep: str | None = None) -> list[KVFile]:
        """Delete least-recently-used files analyze wrote until they total at most max_bytes."""
        managed = [f for f in self.files() if f.is_indexed]
        total = sum(f.num_bytes for f in managed)
        evicted: list[KVFile] = []
        for f in managed:
            if total <= max_bytes:
                break
            if f.name == keep:
                continue
            self.remove([f.name])
            total -= f.num_bytes
            evicted.append(f)
        return evicted

    def clean(self, *, everything: bool = False, max_bytes: int | None = None,
              unused_for_s: float | None = None) -> list[KVFile]:
        """`heavylift kv clean`: every file, least recently used down to max_bytes, or unused for a while."""
        if max_bytes is not None:
            return self.evict(max_bytes)
        files = self.files()
        if not everything:
            cutoff = time.time() - (unused_for_s or 0)
            files = [f for f in files if (f.last_used_at or 0) < cutoff]
        self.remove([f.name for f in files])
        return files

    # -- architectures whose restore does nothing -------------------------------------------
    def mark_unrestorable(self, architecture: str, engine_version: str, reason: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO kv_unrestorable(architecture, engine_version, reason, noted_at) "
                        "VALUES (?,?,?,?)", (architecture, engine_version, reason, time.time()))

    def unrestorable_reason(self, architecture: str, engine_version: str) -> str | None:
        row = self.db.execute("SELECT reason FROM kv_unrestorable WHERE architecture=? AND engine_version=?",
                              (architecture, engine_version)).fetchone()
        return row[0] if row else None

    def unrestorable(self) -> list[tuple[str, str, str]]:
        return [tuple(r) for r in self.db.execute(
            "SELECT architecture, engine_version, reason FROM kv_unrestorable ORDER BY architecture")]

    def forget_unrestorable(self) -> int:
        return self.db.execute("DELETE FROM kv_unrestorable").rowcount
