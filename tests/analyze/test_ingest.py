"""Ingestion of every format and every bad input, on real files (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from heavylift.analyze.ingest import ingest_paths, load_for_prompt
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
    assert doc.page_of(doc.text.index("ninety")) == 2 and doc.page_of(0) == 1
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
    assert [e.error for e in errors] == ["no such file or folder",
                                        "no documents in this folder; supported: PDF (text layer), DOCX, HTML, "
                                        "Markdown, plain text, source code, folders"]


def test_load_for_prompt_keeps_working(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("hello")
    assert load_for_prompt(tmp_path / "a.md") == '<document name="a.md" kind="markdown">\nhello\n</document>'
    with pytest.raises(UsageError, match="no such file"):
        load_for_prompt(tmp_path / "missing.md")
