"""Mutated PDF, DOCX and HTML files through ingestion (what `analyze` and `ask --file` read):
every file becomes a document or a one-line reason; nothing raises, nothing hangs.

Seeds are the real sample documents (samples/documents/) and ones made here. PDFs and HTML are
mutated byte by byte; a DOCX half the time as a zip, half the time inside its XML parts (re-zipped),
so the XML and document readers are reached, not only the zip check. Default run: 60 files;
`-m fuzz`: 300 (100 per format) plus a sample through `ask --file`'s loader.
"""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import pytest

from heavylift.errors import HeavyliftError
from tests.fuzz.harness import run_all
from tests.fuzz.mutate import mutate

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "documents"


class Refused(HeavyliftError):
    """An input ingestion refused, with its one-line reason."""


def _seeds(tmp: Path) -> dict[str, list[bytes]]:
    from tests.analyze.docmaker import make_docx, make_pdf

    html_made = (b"<!doctype html><html><head><meta charset='utf-8'><title>T</title><style>p{}</style></head>"
                 b"<body><h1>Notice</h1><p>Thirty <b>days</b> &amp; more.</p><table><tr><td>a</td></tr></table>"
                 b"<script>x()</script></body></html>")
    return {
        "pdf": [(SAMPLES / "paper.pdf").read_bytes(), make_pdf(["Page one text.", "Page two: the fee is 5%."])],
        "docx": [(SAMPLES / "nda.docx").read_bytes(),
                 make_docx(tmp / "made.docx", "Lease", ["Rent is due monthly."], [["a", "b"], ["1", "2"]]).read_bytes()],
        "html": [(SAMPLES / "lease.html").read_bytes(), html_made],
    }


def _mutate_docx(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.4:
        return mutate(data, rng)
    source = zipfile.ZipFile(io.BytesIO(data))
    names = source.namelist()
    target = "word/document.xml" if rng.random() < 0.6 and "word/document.xml" in names else rng.choice(names)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in names:
            body = source.read(name)
            if name == target:
                body = mutate(body, rng, max_ops=6)
            if rng.random() > 0.03:  # now and then a part goes missing
                z.writestr(name, body)
    return out.getvalue()


def _mutants(tmp: Path, per_format: int, seed: int):
    rng = random.Random(seed)
    seeds = _seeds(tmp)
    for i in range(per_format):
        for kind, sources in seeds.items():
            data = sources[i % len(sources)]
            mutated = _mutate_docx(data, rng) if kind == "docx" else mutate(data, rng, max_ops=6)
            path = tmp / f"mutant.{kind}"
            path.write_bytes(mutated)
            yield f"{kind} #{i} of seed file {i % len(sources)} (seed {seed})", path


def _ingest(path: Path) -> None:
    from heavylift.analyze.ingest import ingest_paths

    docs, errors = ingest_paths([path])
    assert len(docs) + len(errors) == 1
    for doc in docs:
        assert doc.text.strip() and doc.body() and doc.num_chars == len(doc.text)
    if errors:
        raise Refused(errors[0].error)


def test_mutated_documents_fast(tmp_path: Path) -> None:
    run_all("documents: ingest (pdf/docx/html)", _mutants(tmp_path, 20, seed=0), _ingest).assert_clean()


@pytest.mark.fuzz
def test_mutated_documents_long(tmp_path: Path) -> None:
    run_all("documents (long): ingest (pdf/docx/html)", _mutants(tmp_path, 100, seed=1), _ingest).assert_clean()


@pytest.mark.fuzz
def test_mutated_documents_for_ask(tmp_path: Path) -> None:
    """`ask --file`'s loader: a document's text, or a UsageError (one line, exit 2)."""
    from heavylift.analyze.ingest import load_for_prompt

    run_all("documents: ask --file loader", _mutants(tmp_path, 30, seed=2), load_for_prompt).assert_clean()
