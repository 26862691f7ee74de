"""HTML via BeautifulSoup with the stdlib parser (no C build needed; tolerant of broken markup)."""

from __future__ import annotations

from heavylift.analyze.ingest.text_reader import decode_text

_DROP = ["script", "style", "noscript", "template", "svg", "head"]


def read_html(data: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data), "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else ""
    for tag in soup(_DROP):
        tag.decompose()
    text = soup.get_text("\n")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    body = "\n".join(line for line in lines if line)
    return f"{title}\n\n{body}".strip() if title and not body.startswith(title) else body
