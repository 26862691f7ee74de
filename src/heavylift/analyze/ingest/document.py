"""What ingestion produces: a document's prompt text with its provenance, or a per-input error."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass
class Document:
    """One input made into text. `pages` maps each page (1-based) to its first character in `text`."""

    path: str
    name: str
    kind: str  # pdf | docx | html | markdown | text | source-tree
    text: str
    sha256: str  # of the file's bytes (of the packed text for a folder): the same file is recognised
    pages: list[tuple[int, int]] = field(default_factory=list)
    num_files: int = 1

    @property
    def num_chars(self) -> int:
        return len(self.text)

    def body(self) -> str:
        """The delimited, named block placed in prompts (byte-identical for every task on it)."""
        pages = f' pages="{len(self.pages)}"' if self.pages else ""
        return f'<document name="{self.name}" kind="{self.kind}"{pages}>\n{self.text}\n</document>'


@dataclass
class IngestError:
    """An input that is not analysed; the batch goes on without it. `status` is `skipped` (it could
    not be read, or holds nothing to analyse) or `duplicate` (the same content as `duplicate_of`)."""

    path: str
    error: str
    status: str = "skipped"
    duplicate_of: str | None = None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class IngestFailure(Exception):
    """Raised by a reader with a one-line reason; becomes an IngestError for that input."""
