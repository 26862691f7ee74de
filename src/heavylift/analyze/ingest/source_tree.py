"""A source-code folder packed into one document: each file under a `=== path ===` header,
honouring .gitignore files (pathspec's git wildmatch, the maintained port of git's rules) and
skipping binaries, VCS folders and oversized files."""

from __future__ import annotations

import os
from pathlib import Path

from heavylift.analyze.ingest.text_reader import is_binary

CODE_SUFFIXES = {
    ".py", ".pyi", ".js", ".jsx", ".ts", ".tsx", ".mjs", ".go", ".rs", ".c", ".h", ".cc", ".cpp",
    ".hpp", ".cu", ".java", ".kt", ".swift", ".rb", ".php", ".cs", ".scala", ".sh", ".bash", ".zsh",
    ".toml", ".yaml", ".yml", ".ini", ".cfg", ".cmake", ".sql", ".lua", ".r", ".jl", ".zig", ".m",
}
PROJECT_MARKERS = {".git", ".gitignore", "pyproject.toml", "package.json", "Cargo.toml", "go.mod",
                   "CMakeLists.txt", "Makefile", "setup.py", "pom.xml", "build.gradle"}
ALWAYS_SKIPPED = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox",
                  ".mypy_cache", ".pytest_cache", ".ruff_cache"}
MAX_FILE_BYTES = 1_000_000  # a generated or vendored blob, not source someone wants analysed


def is_source_tree(folder: Path) -> bool:
    """A project folder (VCS or build marker at its root), or one whose files are mostly code."""
    try:
        names = {p.name for p in folder.iterdir()}
    except OSError:
        return False
    if names & PROJECT_MARKERS:
        return True
    files = [p for p in folder.rglob("*") if p.is_file()][:500]
    code = sum(p.suffix.lower() in CODE_SUFFIXES for p in files)
    return bool(files) and code * 2 > len(files)


def pack_source_tree(root: Path) -> tuple[str, int]:
    """The packed text and how many files went in (sorted paths, so the text is reproducible)."""
    import pathspec

    packed: list[str] = []
    specs: list[tuple[Path, pathspec.PathSpec]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        ignore_file = here / ".gitignore"
        if ignore_file.is_file():
            lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
            specs.append((here, pathspec.GitIgnoreSpec.from_lines(lines)))

        def ignored(path: Path, is_dir: bool) -> bool:
            for base, spec in specs:
                if base == path or base not in path.parents:
                    continue
                rel = path.relative_to(base).as_posix() + ("/" if is_dir else "")
                if spec.match_file(rel):
                    return True
            return False

        dirnames[:] = sorted(d for d in dirnames
                             if d not in ALWAYS_SKIPPED and not ignored(here / d, True))
        for name in sorted(filenames):
            path = here / name
            if name == ".gitignore" or ignored(path, False) or not path.is_file():
                continue
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            if not data.strip() or is_binary(data):
                continue
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                continue
            packed.append(f"=== {path.relative_to(root).as_posix()} ===\n{text.rstrip()}\n")
    return "\n".join(packed).rstrip(), len(packed)
