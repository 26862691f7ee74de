"""Plain text and Markdown: UTF-8 (with or without BOM); binary content is refused."""

from __future__ import annotations

from heavylift.analyze.ingest.document import IngestFailure


def is_binary(data: bytes) -> bool:
    """Git's rule of thumb: a NUL byte in the first 8000 bytes means binary."""
    return b"\0" in data[:8000]


def decode_text(data: bytes) -> str:
    if is_binary(data):
        raise IngestFailure("binary content, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IngestFailure("not UTF-8 text; convert it first (e.g. `iconv -t utf-8`)") from None


def read_text(data: bytes) -> str:
    return decode_text(data).replace("\r\n", "\n").strip()
