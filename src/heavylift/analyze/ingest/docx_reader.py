"""DOCX via python-docx (maintained, pure Python): paragraphs and tables, in body order."""

from __future__ import annotations

import io

from heavylift.analyze.ingest.document import IngestFailure


def read_docx(data: bytes) -> str:
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(io.BytesIO(data))
        lines = []
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                lines.append(block.text)
            elif isinstance(block, Table):
                for row in block.rows:
                    lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    except Exception as e:  # zipfile.BadZipFile, KeyError, lxml errors: all mean "not a usable DOCX"
        first_line = (str(e).strip() or e.__class__.__name__).splitlines()[0]  # lxml's messages span lines
        raise IngestFailure(f"not a readable DOCX ({first_line[:120]})") from None
    return "\n".join(lines).strip()
