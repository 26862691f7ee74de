"""Ingestion of every format and every bad input, on real files (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from heavylift.analyze.ingest import SUPPORTED, ingest_paths, load_for_prompt
from heavylift.errors import UsageError
from tests.analyze.docmaker import make_docx, make_encrypted_pdf, make_pdf


def one(path: Path):
    docs, errors = ingest_paths([path])
    return docs, errors


def test_pdf_text_layer_with_pages(tmp_path: Path) -> None:
    path = tmp_path / "c.pdf"
    path.write_bytes(make_pdf(["The rent is 4,800 USD.", "Notice: ninety days."]))
    (doc,), errors = one(path)
    assert not errors and doc.kind == "pdf" and [p for p, _ in doc.pages] == [1, 2]
    assert "[page 2]\nNotice: ninety days." in doc.text
    page2 = dict(doc.pages)[2]
    assert doc.text.index("ninety") > page2 > 0 and doc.text[page2:].startswith("[page 2]")
    assert 'pages="2"' in doc.body() and len(doc.sha256) == 64


def test_docx_html_markdown_text(tmp_path: Path) -> None:
    make_docx(tmp_path / "n.docx", "NDA", ["Term: two years."], [["Party", "Role"], ["Quill", "Discloser"]])
    (tmp_path / "l.html").write_text("<html><head><title>Lease</title><script>x=1</script></head>"
                                     "<body><h1>Lease</h1><p>Rent <b>4,800</b></p></body></html>")
    (tmp_path / "s.md").write_text("# Services\n\nFees: 165/hour.\n")
    (tmp_path / "notes.txt").write_text("plain words\r\n")
    docs, errors = ingest_paths([tmp_path / n for n in ("n.docx", "l.html", "s.md", "notes.txt")])
    assert not errors
    by_kind = {d.kind: d for d in docs}
    assert "Term: two years." in by_kind["docx"].text and "Quill | Discloser" in by_kind["docx"].text
    assert "Rent\n4,800" in by_kind["html"].text and "x=1" not in by_kind["html"].text
    assert by_kind["markdown"].text.startswith("# Services") and by_kind["text"].text == "plain words"


def test_folder_recursive_and_source_tree(tmp_path: Path) -> None:
    docs_dir = tmp_path / "docs"
    (docs_dir / "sub").mkdir(parents=True)
    (docs_dir / "a.md").write_text("alpha")
    (docs_dir / "sub" / "b.txt").write_text("beta")
    docs, errors = one(docs_dir)
    assert sorted(d.name for d in docs) == ["a.md", "b.txt"] and not errors

    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "build").mkdir()
    (repo / ".gitignore").write_text("build/\n*.log\n")
    (repo / "src" / "main.py").write_text("print('hi')\n")
    (repo / "src" / "logo.png").write_bytes(b"\x89PNG\0\0\0binary")
    (repo / "build" / "out.py").write_text("generated = 1\n")
    (repo / "debug.log").write_text("noise\n")
    (repo / "pyproject.toml").write_text("[project]\nname='x'\n")
    (doc,), errors = one(repo)
    assert doc.kind == "source-tree" and doc.num_files == 2 and not errors
    assert "=== src/main.py ===\nprint('hi')" in doc.text and "=== pyproject.toml ===" in doc.text
    assert "generated" not in doc.text and "noise" not in doc.text and "PNG" not in doc.text


def test_same_file_twice_is_recognised(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("same words")
    (tmp_path / "copy.txt").write_text("same words")
    docs, errors = ingest_paths([tmp_path / "a.txt", tmp_path / "copy.txt", tmp_path / "a.txt"])
    assert len(docs) == 1
    assert [e.error for e in errors] == [f"same content as {tmp_path / 'a.txt'}; analysed once"] * 2


@pytest.mark.parametrize("name, content, expected", [
    ("empty.txt", b"  \n", "empty file"),
    ("scan.pdf", make_pdf(["x", "y"], with_text=False), "no text layer (2 pages, scanned?); OCR is not supported"),
    ("broken.pdf", b"%PDF-1.4\n1 0 obj garbage", "not a readable PDF"),
    ("locked.pdf", make_encrypted_pdf(["secret terms"]), "encrypted PDF; decrypt it first"),
    ("sheet.xlsx", b"PK\x03\x04", "unsupported file type .xlsx"),
    ("blob.dat", b"\0\1\2\3", "unsupported file type .dat (binary)"),
    ("latin1.txt", "caf\xe9".encode("latin-1"), "not UTF-8 text"),
    ("broken.docx", b"PK\x03\x04 not a zip", "not a readable DOCX"),
])
def test_bad_inputs_are_per_document_errors(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    (tmp_path / name).write_bytes(content)
    (tmp_path / "good.txt").write_text("the batch goes on")
    docs, errors = ingest_paths([tmp_path / name, tmp_path / "good.txt"])
    assert [d.name for d in docs] == ["good.txt"]
    assert len(errors) == 1 and expected in errors[0].error and errors[0].path == str(tmp_path / name)


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    docs, errors = ingest_paths([tmp_path / "nope.pdf", tmp_path / "empty"])
    assert not docs
    assert [e.error for e in errors] == ["no such file or folder", f"no documents in this folder; supported: {SUPPORTED}"]


def test_load_for_prompt_keeps_working(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("hello")
    assert load_for_prompt(tmp_path / "a.md") == '<document name="a.md" kind="markdown">\nhello\n</document>'
    with pytest.raises(UsageError, match="no such file"):
        load_for_prompt(tmp_path / "missing.md")


# -- issue 11: installed packages, caches and build outputs, compressed inputs, names, duplicates ----

def test_installed_package_is_one_source_tree() -> None:
    """`analyze site-packages/pluggy` was 13 documents + 14 failed rows (.pyc, empty py.typed)."""
    import pluggy

    folder = Path(pluggy.__file__).parent
    assert (folder / "__pycache__").is_dir()  # imported, so its bytecode is there
    (doc,), errors = one(folder)
    assert not errors and doc.kind == "source-tree" and doc.name == "pluggy/"
    assert "=== __init__.py ===" in doc.text and "__pycache__" not in doc.text and ".pyc" not in doc.text
    assert doc.num_files == len([p for p in folder.glob("*.py") if p.read_text().strip()])


def test_caches_bytecode_and_build_outputs_are_skipped(tmp_path: Path) -> None:
    repo = tmp_path / "proj"
    for sub in ("src", "build/lib", "dist", "x.egg-info", ".mypy_cache", "src/__pycache__", "node_modules/dep"):
        (repo / sub).mkdir(parents=True)
    (repo / "setup.cfg").write_text("[metadata]\nname = x\n")
    (repo / "src" / "main.py").write_text("print('hi')\n")
    (repo / "src" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\x00compiled")
    (repo / "src" / "stale.pyc").write_bytes(b"\x00stale")
    (repo / "build" / "lib" / "main.py").write_text("built copy\n")
    (repo / "dist" / "x.txt").write_text("dist output\n")
    (repo / "x.egg-info" / "PKG-INFO").write_text("egg info\n")
    (repo / ".mypy_cache" / "c.json").write_text("{}\n")
    (repo / "node_modules" / "dep" / "i.js").write_text("dep\n")
    (repo / "poetry.lock").write_text("lock\n")
    (doc,), errors = one(repo)
    assert not errors and doc.num_files == 2  # setup.cfg and src/main.py
    for noise in ("built copy", "dist output", "egg info", "compiled", "stale", "dep", "lock"):
        assert noise not in doc.text


def test_mostly_code_ignores_bytecode(tmp_path: Path) -> None:
    """A folder with no project marker is a source tree when most files are code; bytecode does not count."""
    folder = tmp_path / "scripts"
    (folder / "__pycache__").mkdir(parents=True)
    for name in ("a.py", "b.py", "c.py"):
        (folder / name).write_text(f"# {name}\nx = 1\n")
    (folder / "README.md").write_text("scripts\n")
    for i in range(4):
        (folder / "__pycache__" / f"m{i}.cpython-311.pyc").write_bytes(b"\x00pyc")
    (doc,), errors = one(folder)
    assert not errors and doc.kind == "source-tree" and doc.num_files == 4


def test_docs_folder_skips_caches_silently(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "a.md").write_text("alpha\n")
    (folder / "b.txt").write_text("beta\n")
    (folder / "__pycache__" / "x.pyc").write_bytes(b"\x00")
    docs, errors = one(folder)
    assert sorted(d.name for d in docs) == ["a.md", "b.txt"] and not errors


def test_compressed_inputs_are_read(tmp_path: Path) -> None:
    import bz2
    import gzip
    import lzma

    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(b"The rent is 4,800 USD.\n"))
    (tmp_path / "spec.md.bz2").write_bytes(bz2.compress(b"# Spec\n\nNotice: ninety days.\n"))
    (tmp_path / "page.html.xz").write_bytes(lzma.compress(b"<html><body><p>Deposit 9,600</p></body></html>"))
    (tmp_path / "plain.txt").write_text("The rent is 4,800 USD.\n")  # same content as notes.txt.gz
    (tmp_path / "broken.gz").write_bytes(b"\x1f\x8b not really gzip")
    (tmp_path / "bundle.tar.gz").write_bytes(gzip.compress(b"tar bytes"))
    docs, errors = ingest_paths([tmp_path / n for n in ("notes.txt.gz", "spec.md.bz2", "page.html.xz", "plain.txt",
                                                         "broken.gz", "bundle.tar.gz")])
    by_name = {d.name: d for d in docs}
    assert set(by_name) == {"notes.txt.gz", "spec.md.bz2", "page.html.xz"}
    assert by_name["notes.txt.gz"].kind == "text" and by_name["notes.txt.gz"].text == "The rent is 4,800 USD."
    assert by_name["spec.md.bz2"].kind == "markdown" and "ninety days" in by_name["spec.md.bz2"].text
    assert by_name["page.html.xz"].kind == "html" and "Deposit 9,600" in by_name["page.html.xz"].text
    why = {Path(e.path).name: e for e in errors}
    assert why["plain.txt"].status == "duplicate" and why["plain.txt"].duplicate_of == str(tmp_path / "notes.txt.gz")
    assert why["broken.gz"].status == "skipped" and "not a readable .gz file" in why["broken.gz"].error
    assert "tar archive; unpack it first (`tar xf bundle.tar.gz`)" in why["bundle.tar.gz"].error


def test_duplicates_and_skipped_inputs_have_their_own_status(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("same words")
    (tmp_path / "copy.txt").write_text("same words")
    (tmp_path / "empty.txt").write_text("")
    docs, errors = ingest_paths([tmp_path / "a.txt", tmp_path / "copy.txt", tmp_path / "empty.txt"])
    assert [d.name for d in docs] == ["a.txt"]
    assert sorted((Path(e.path).name, e.status, e.duplicate_of) for e in errors) == [
        ("copy.txt", "duplicate", str(tmp_path / "a.txt")), ("empty.txt", "skipped", None)]


def test_same_file_names_get_their_shortest_distinguishing_path(tmp_path: Path) -> None:
    """/usr/share/doc/apt/copyright and .../curl/copyright were both just 'copyright'."""
    for folder in ("doc/apt", "doc/curl", "x/a/notes", "y/a/notes", "doc/zlib"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "doc/apt/copyright").write_text("apt terms")
    (tmp_path / "doc/curl/copyright").write_text("curl terms")
    (tmp_path / "x/a/notes/README").write_text("n1")
    (tmp_path / "y/a/notes/README").write_text("n2")
    (tmp_path / "doc/zlib/LICENSE").write_text("zlib")
    docs, errors = ingest_paths([tmp_path / "doc", tmp_path / "x", tmp_path / "y"])
    assert not errors
    assert sorted(d.name for d in docs) == ["LICENSE", "apt/copyright", "curl/copyright", "x/a/notes/README",
                                           "y/a/notes/README"]
    assert all(f'<document name="{d.name}"' in d.body() for d in docs)  # the model sees the same names
