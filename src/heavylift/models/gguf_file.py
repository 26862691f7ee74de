"""Read a GGUF file's header and tensor table without loading any weights.

Format: ggml/docs/gguf.md and gguf-py/gguf/gguf_reader.py in the pinned llama.cpp. Split files
(`NAME-00001-of-00004.gguf`, written by llama-gguf-split) are read part by part and joined.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from heavylift.errors import GGUFError
from heavylift.models.ggml_types import GGML_TYPES, GGMLType

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
# Arrays longer than this (token lists, merges) are summarised, not materialised: `info` needs
# their length only, and a 150k-entry vocabulary would cost seconds of pure-Python parsing.
MAX_ARRAY_ITEMS = 4096
_LAYER_RE = re.compile(r"blk\.(\d+)\.")
SPLIT_RE = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class GGUFArray:
    """A long metadata array kept as its item type and length only."""

    item_type: int
    length: int

    def __len__(self) -> int:
        return self.length


@dataclass(frozen=True)
class TensorSpec:
    """One tensor: ggml-order shape (shape[0] is the contiguous row) and its type."""

    name: str
    shape: tuple[int, ...]
    ggml_type: GGMLType

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def n_bytes(self) -> int:
        """ggml_nbytes() for a contiguous tensor: rows times ggml_row_size()."""
        if not self.shape or not self.shape[0]:
            return 0  # an empty tensor
        return self.ggml_type.row_bytes(self.shape[0]) * (self.n_elements // self.shape[0])

    @property
    def layer(self) -> int:
        """The block index of `blk.N.*` tensors, -1 for the others."""
        m = _LAYER_RE.match(self.name)
        return int(m.group(1)) if m else -1


@dataclass(frozen=True)
class GGUFTensor(TensorSpec):
    """A tensor as stored in a GGUF file."""

    offset: int = 0  # from the start of the data section of its file
    split_no: int = 0


@dataclass
class GGUFFile:
    """Header, metadata and tensor table of one model (all its split parts)."""

    paths: list[Path]
    version: int
    metadata: dict[str, Any]
    tensors: list[GGUFTensor] = field(default_factory=list)
    file_bytes: int = 0

    @classmethod
    def read(cls, path: str | Path) -> GGUFFile:
        path = Path(path)
        parts = split_parts(path)
        first = _read_one(parts[0], 0)
        for no, part in enumerate(parts[1:], start=1):
            other = _read_one(part, no)
            first.tensors.extend(other.tensors)
            first.file_bytes += other.file_bytes
        first.paths = parts
        return first

    def get(self, key: str, default: Any = None) -> Any:
        """Metadata value; `{arch}` in the key is replaced by the architecture name."""
        return self.metadata.get(key.replace("{arch}", self.architecture), default)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    def tensor_type_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t in self.tensors:
            counts[t.ggml_type.name] = counts.get(t.ggml_type.name, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def split_parts(path: Path) -> list[Path]:
    """All parts of a split GGUF given any one of them (or [path] for a single file)."""
    if not path.exists():
        raise GGUFError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise GGUFError(f"{path}: is a directory; give the path of a .gguf file")
    m = SPLIT_RE.match(path.name)
    if not m:
        return [path]
    count = int(m["count"])
    parts = [path.with_name(f"{m['prefix']}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    missing = [p.name for p in parts if not p.exists()]
    if missing:
        raise GGUFError(f"{path}: split GGUF is missing part(s) {', '.join(missing)}; put all parts in one folder")
    return parts


GGML_MAX_DIMS = 4  # ggml.h


class _Reader:
    def __init__(self, f: BinaryIO, path: Path, file_bytes: int):
        self.f, self.path, self.file_bytes = f, path, file_bytes

    def take(self, n: int) -> bytes:
        # checked before reading: a corrupt length must not make us allocate gigabytes
        if n < 0 or self.f.tell() + n > self.file_bytes:
            raise GGUFError(f"{self.path}: truncated GGUF header (file ends early); re-download or re-copy it")
        data = self.f.read(n)
        if len(data) != n:
            raise GGUFError(f"{self.path}: truncated GGUF header (file ends early); re-download or re-copy it")
        return data

    def corrupt(self, what: str) -> GGUFError:
        return GGUFError(f"{self.path}: corrupt GGUF ({what}); re-download or re-convert it")

    def scalar(self, vtype: int) -> Any:
        fmt = _SCALARS[vtype]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        (n,) = struct.unpack("<Q", self.take(8))
        if n > 1 << 30:
            raise GGUFError(f"{self.path}: corrupt GGUF (string of {n} bytes); re-download it")
        return self.take(n).decode("utf-8", errors="replace")

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.scalar(vtype)
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type, n = struct.unpack("<IQ", self.take(12))
            if n > MAX_ARRAY_ITEMS:
                self.skip_array(item_type, n)
                return GGUFArray(item_type, n)
            return [self.value(item_type) for _ in range(n)]
        raise self.corrupt(f"unknown value type {vtype}")

    def skip(self, n: int) -> None:
        if self.f.tell() + n > self.file_bytes:
            raise GGUFError(f"{self.path}: truncated GGUF header (file ends early); re-download or re-copy it")
        self.f.seek(n, 1)

    def skip_array(self, item_type: int, n: int) -> None:
        if item_type in _SCALARS:
            self.skip(n * struct.calcsize(_SCALARS[item_type]))
            return
        if item_type not in (_STRING, _ARRAY):
            raise self.corrupt(f"unknown array item type {item_type}")
        for _ in range(n):
            if item_type == _STRING:
                (length,) = struct.unpack("<Q", self.take(8))
                self.skip(length)
            else:
                self.value(item_type)  # nested arrays: rare, walk them


def _read_one(path: Path, split_no: int) -> GGUFFile:
    file_bytes = path.stat().st_size
    with open(path, "rb") as f:
        r = _Reader(f, path, file_bytes)
        magic = f.read(4)
        if magic != GGUF_MAGIC:
            raise GGUFError(f"{path}: not a GGUF file (starts with {magic!r}); give a .gguf model file")
        version, n_tensors, n_kv = struct.unpack("<IQQ", r.take(20))
        if version not in (2, 3):
            raise GGUFError(f"{path}: unsupported GGUF version {version}; convert it with a current llama.cpp")
        # the checks llama.cpp's own reader makes (ggml/src/gguf.cpp gguf_init_from_file_impl)
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = r.string()
            (vtype,) = struct.unpack("<I", r.take(4))
            if key in metadata:
                raise r.corrupt(f"duplicate key {key[:80]!r}")
            metadata[key] = r.value(vtype)
        tensors: list[GGUFTensor] = []
        names: set[str] = set()
        for _ in range(n_tensors):
            name = r.string()
            (n_dims,) = struct.unpack("<I", r.take(4))
            if n_dims > GGML_MAX_DIMS:
                raise r.corrupt(f"tensor {name[:80]!r} has {n_dims} dimensions, more than {GGML_MAX_DIMS}")
            shape = struct.unpack(f"<{n_dims}Q", r.take(8 * n_dims))
            type_id, offset = struct.unpack("<IQ", r.take(12))
            if type_id not in GGML_TYPES:
                raise GGUFError(f"{path}: tensor {name[:80]} has unknown ggml type {type_id}; update heavylift")
            ggml_type = GGML_TYPES[type_id]
            n_elements = 1
            for d in shape:
                n_elements *= d
            if name in names:
                raise r.corrupt(f"duplicate tensor {name[:80]!r}")
            if n_elements >= 2**63 or (shape and shape[0] % ggml_type.block_size):
                raise r.corrupt(f"tensor {name[:80]!r} has an impossible shape {list(shape)} for {ggml_type.name}")
            names.add(name)
            tensors.append(GGUFTensor(name, tuple(shape), ggml_type, offset, split_no))
        alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 \
                or alignment & (alignment - 1):
            raise r.corrupt(f"general.alignment {alignment!r} is not a power of two")
        if any(t.offset % alignment for t in tensors):
            raise r.corrupt(f"a tensor offset is not a multiple of the alignment {alignment}")
        header_end = f.tell()
    data_start = (header_end + alignment - 1) // alignment * alignment
    gguf = GGUFFile([path], version, metadata, tensors, file_bytes)
    needed = data_start + max((t.offset + t.n_bytes for t in tensors), default=0)
    if needed > file_bytes:
        raise GGUFError(
            f"{path}: truncated GGUF ({file_bytes} bytes, tensors need {needed}); re-download or re-copy it"
        )
    return gguf
