"""PDF text layer via pypdf (pure Python, maintained, handles encryption and broken xref tables)."""

from __future__ import annotations

import io
import logging

from heavylift.analyze.ingest.document import IngestFailure

ENCRYPTED = "encrypted PDF; decrypt it first (e.g. `qpdf --decrypt in.pdf out.pdf`)"


def read_pdf(data: bytes) -> tuple[str, list[tuple[int, int]]]:
    """Text with a `[page N]` line before each page, and where each page starts."""
    from pypdf import PdfReader
    from pypdf.errors import (
        DependencyError,
        FileNotDecryptedError,
        PdfReadError,
        WrongPasswordError,
    )

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about sloppy files are noise here
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestFailure(ENCRYPTED)
        texts = [(page.extract_text() or "").strip() for page in reader.pages]
    except IngestFailure:
        raise
    except (FileNotDecryptedError, WrongPasswordError, DependencyError):
        # DependencyError: an AES-encrypted file without the `cryptography` package to open it
        raise IngestFailure(ENCRYPTED) from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise IngestFailure(f"not a readable PDF (corrupt or truncated: {_short(e)})") from None
    except Exception as e:  # pypdf raises assorted errors on damaged files; any of them means unreadable
        raise IngestFailure(f"not a readable PDF ({_short(e)})") from None
    if not texts:
        raise IngestFailure("PDF has no pages")
    if not any(texts):
        raise IngestFailure(f"PDF has no text layer ({len(texts)} pages, scanned?); OCR is not supported, "
                            "run it through OCR first (e.g. `ocrmypdf in.pdf out.pdf`)")
    parts, pages, offset = [], [], 0
    for number, text in enumerate(texts, start=1):
        block = f"[page {number}]\n{text}\n"
        pages.append((number, offset))
        parts.append(block)
        offset += len(block) + 1
    return "\n".join(parts).rstrip(), pages


def _short(e: Exception) -> str:
    return (str(e) or e.__class__.__name__).splitlines()[0][:120]
