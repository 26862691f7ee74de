"""Turn files and folders into documents: one reader per format, chosen by a tiny registry.

`ingest_paths` never raises for a bad input: each one becomes an IngestError and the rest go on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from heavylift.analyze.ingest.document import Document, IngestError, IngestFailure, sha256_bytes
from heavylift.analyze.ingest.docx_reader import read_docx
from heavylift.analyze.ingest.html_reader import read_html
from heavylift.analyze.ingest.pdf_reader import read_pdf
from heavylift.analyze.ingest.source_tree import CODE_SUFFIXES, is_source_tree, pack_source_tree
from heavylift.analyze.ingest.text_reader import read_text
from heavylift.errors import UsageError

__all__ = ["Document", "IngestError", "ingest_paths", "ingest_file", "load_for_prompt", "SUPPORTED"]

Reader = Callable[[bytes], "str | tuple[str, list[tuple[int, int]]]"]

# kind, reader per suffix. Unknown suffixes are tried as UTF-8 text; known binaries are refused.
READERS: dict[str, tuple[str, Reader]] = {
    ".pdf": ("pdf", read_pdf),
    ".docx": ("docx", read_docx),
    ".html": ("html", read_html),
    ".htm": ("html", read_html),
    ".xhtml": ("html", read_html),
    ".md": ("markdown", read_text),
    ".markdown": ("markdown", read_text),
    ".txt": ("text", read_text),
    ".text": ("text", read_text),
    ".rst": ("text", read_text),
    ".csv": ("text", read_text),
    ".json": ("text", read_text),
    ".xml": ("text", read_text),
    **{suffix: ("source", read_text) for suffix in CODE_SUFFIXES},
}
KNOWN_UNSUPPORTED = {".doc", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".rtf", ".epub", ".png", ".jpg",
                     ".jpeg", ".gif", ".webp", ".tiff", ".bmp", ".zip", ".gz", ".tar", ".7z", ".exe",
                     ".dll", ".so", ".bin", ".gguf", ".mp3", ".mp4", ".wav", ".sqlite", ".db"}
SUPPORTED = "PDF (text layer), DOCX, HTML, Markdown, plain text, source code, folders"


def ingest_file(path: Path) -> Document:
    """One file as a Document; raises IngestFailure with a one-line reason."""
    suffix = path.suffix.lower()
    if suffix in KNOWN_UNSUPPORTED:
        raise IngestFailure(f"unsupported file type {suffix}; supported: {SUPPORTED}")
    try:
        data = path.read_bytes()
    except PermissionError:
        raise IngestFailure("cannot read it (permission denied)") from None
    except OSError as e:
        raise IngestFailure(f"cannot read it ({e.strerror or e})") from None
    if not data.strip():
        raise IngestFailure("empty file")
    kind, reader = READERS.get(suffix, ("text", read_text))
    if suffix not in READERS and (b"\0" in data[:8000]):
        raise IngestFailure(f"unsupported file type {suffix or '(no extension)'} (binary); supported: {SUPPORTED}")
    out = reader(data)
    text, pages = out if isinstance(out, tuple) else (out, [])
    if not text.strip():
        raise IngestFailure(f"no text in this {kind} file")
    return Document(path=str(path), name=path.name, kind=kind, text=text, sha256=sha256_bytes(data), pages=pages)


def ingest_folder(folder: Path) -> tuple[list[Document], list[IngestError]]:
    """A source tree becomes one packed document; any other folder, one document per file inside."""
    if is_source_tree(folder):
        text, num_files = pack_source_tree(folder)
        if not text:
            return [], [IngestError(str(folder), "no readable source files in this folder (all ignored, binary or empty)")]
        doc = Document(path=str(folder), name=folder.resolve().name + "/", kind="source-tree", text=text,
                       sha256=sha256_bytes(text.encode()), num_files=num_files)
        return [doc], []
    docs: list[Document] = []
    errors: list[IngestError] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            try:
                docs.append(ingest_file(path))
            except IngestFailure as e:
                errors.append(IngestError(str(path), str(e)))
    if not docs and not errors:
        errors.append(IngestError(str(folder), f"no documents in this folder; supported: {SUPPORTED}"))
    return docs, errors


def ingest_paths(paths: list[Path]) -> tuple[list[Document], list[IngestError]]:
    """All inputs, in order. The same content given twice is kept once and the repeat reported."""
    docs: list[Document] = []
    errors: list[IngestError] = []
    for path in paths:
        found, failed = _ingest_one(Path(path))
        docs.extend(found)
        errors.extend(failed)
    unique: dict[str, Document] = {}
    for doc in docs:
        if doc.sha256 in unique:
            errors.append(IngestError(doc.path, f"same content as {unique[doc.sha256].path}; analysed once"))
        else:
            unique[doc.sha256] = doc
    return list(unique.values()), errors


def _ingest_one(path: Path) -> tuple[list[Document], list[IngestError]]:
    try:
        if path.is_dir():
            if not os.access(path, os.R_OK | os.X_OK):
                return [], [IngestError(str(path), "cannot read this folder (permission denied)")]
            return ingest_folder(path)
        if not path.exists():
            return [], [IngestError(str(path), "no such file or folder")]
        return [ingest_file(path)], []
    except IngestFailure as e:
        return [], [IngestError(str(path), str(e))]


def load_for_prompt(path: Path) -> str:
    """A single file or folder as delimited prompt text (used by `heavylift ask --file`)."""
    docs, errors = _ingest_one(Path(path))
    if errors and not docs:
        raise UsageError(f"{errors[0].path}: {errors[0].error}")
    return "\n\n".join(doc.body() for doc in docs)
