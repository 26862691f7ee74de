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
from heavylift.analyze.ingest.source_tree import (
    CODE_SUFFIXES,
    files_under,
    is_source_tree,
    pack_source_tree,
)
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
                     ".jpeg", ".gif", ".webp", ".tiff", ".bmp", ".zip", ".tar", ".7z", ".exe",
                     ".dll", ".so", ".bin", ".gguf", ".mp3", ".mp4", ".wav", ".sqlite", ".db"}
SUPPORTED = ("PDF (text layer), DOCX, HTML, Markdown, plain text, source code, folders; "
             "any of these compressed with gzip, bzip2 or xz")
ARCHIVES = {".tgz", ".tbz2", ".txz"}  # tar archives hold many files: unpacking them is the user's call
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024  # refuse a decompression bomb instead of filling RAM


def _decompressors() -> dict[str, tuple[str, object]]:
    import bz2
    import gzip
    import lzma

    return {".gz": ("gunzip", gzip.open), ".bz2": ("bunzip2", bz2.open), ".xz": ("unxz", lzma.open)}


def ingest_file(path: Path) -> Document:
    """One file as a Document; raises IngestFailure with a one-line reason. A compressed file
    (`notes.txt.gz`) is read as the file inside it, and hashed by its decompressed content."""
    suffix = path.suffix.lower()
    decompress = _decompressors().get(suffix)
    inner = Path(path.stem) if decompress else path
    if suffix in ARCHIVES or (decompress and inner.suffix.lower() == ".tar"):
        raise IngestFailure(f"a tar archive; unpack it first (`tar xf {path.name}`) and analyse the folder")
    if suffix in KNOWN_UNSUPPORTED:
        raise IngestFailure(f"unsupported file type {suffix}; supported: {SUPPORTED}")
    try:
        data = path.read_bytes() if decompress is None else _decompressed(path, *decompress)
    except PermissionError:
        raise IngestFailure("cannot read it (permission denied)") from None
    except OSError as e:
        raise IngestFailure(f"cannot read it ({e.strerror or e})") from None
    if not data.strip():
        raise IngestFailure("empty file")
    suffix = inner.suffix.lower()
    if suffix in KNOWN_UNSUPPORTED:
        raise IngestFailure(f"unsupported file type {suffix} (inside {path.name}); supported: {SUPPORTED}")
    kind, reader = READERS.get(suffix, ("text", read_text))
    if suffix not in READERS and (b"\0" in data[:8000]):
        raise IngestFailure(f"unsupported file type {suffix or '(no extension)'} (binary); supported: {SUPPORTED}")
    out = reader(data)
    text, pages = out if isinstance(out, tuple) else (out, [])
    if not text.strip():
        raise IngestFailure(f"no text in this {kind} file")
    return Document(path=str(path), name=path.name, kind=kind, text=text, sha256=sha256_bytes(data), pages=pages)


def _decompressed(path: Path, tool: str, opener) -> bytes:
    try:
        with opener(path, "rb") as f:
            data = f.read(MAX_DECOMPRESSED_BYTES + 1)
    except (OSError, EOFError, ValueError) as e:
        if isinstance(e, PermissionError):
            raise
        raise IngestFailure(f"not a readable {path.suffix} file ({(str(e) or e.__class__.__name__)[:100]}); "
                            f"check it with `{tool} -t {path.name}`") from None
    if len(data) > MAX_DECOMPRESSED_BYTES:
        raise IngestFailure(f"more than {MAX_DECOMPRESSED_BYTES >> 20} MiB once decompressed; "
                            f"`{tool}` it and split it first")
    return data


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
    for path in files_under(folder):  # caches, bytecode and build outputs are not documents
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        try:
            docs.append(ingest_file(path))
        except IngestFailure as e:
            errors.append(IngestError(str(path), str(e)))
    if not docs and not errors:
        errors.append(IngestError(str(folder), f"no documents in this folder; supported: {SUPPORTED}"))
    return docs, errors


def ingest_paths(paths: list[Path]) -> tuple[list[Document], list[IngestError]]:
    """All inputs, in order. The same content given twice is kept once and the repeat reported as a
    `duplicate`; documents that share a file name are named by their shortest distinguishing path."""
    docs: list[Document] = []
    errors: list[IngestError] = []
    for path in paths:
        found, failed = _ingest_one(Path(path))
        docs.extend(found)
        errors.extend(failed)
    unique: dict[str, Document] = {}
    for doc in docs:
        if doc.sha256 in unique:
            first = unique[doc.sha256].path
            errors.append(IngestError(doc.path, f"same content as {first}; analysed once", "duplicate", first))
        else:
            unique[doc.sha256] = doc
    kept = list(unique.values())
    for doc, name in zip(kept, distinguishing_names(kept), strict=True):
        doc.name = name
    return kept, errors


def distinguishing_names(docs: list[Document]) -> list[str]:
    """Each document's name, lengthened with parent folders where names collide, just enough to tell
    them apart (`apt/copyright`, `curl/copyright`); a folder's name keeps its trailing `/`."""
    def parts(doc: Document) -> tuple[str, ...]:
        return Path(os.path.abspath(doc.path)).parts

    names = [d.name for d in docs]
    by_name: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        by_name.setdefault(name, []).append(i)
    for group in (g for g in by_name.values() if len(g) > 1):
        longest = max(len(parts(docs[i])) for i in group)
        for depth in range(2, longest + 1):
            candidates = {i: "/".join(parts(docs[i])[-depth:]).lstrip("/") for i in group}
            if len(set(candidates.values())) == len(group):
                break
        for i in group:
            names[i] = candidates[i] + ("/" if docs[i].name.endswith("/") else "")
    return names


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
