"""Plain text, Markdown and HTML: decoded exactly (see :func:`ragchips.reader.decode_bytes`)."""

from __future__ import annotations

from pathlib import Path

from .base import Extracted

__all__ = ["HtmlReader", "TextReader"]


class TextReader:
    """Text as it is on disk, newlines included: offsets point into the file itself."""

    name = "text"
    suffixes = (".txt", ".md", ".markdown", ".text")

    def read(self, path: Path, data: bytes) -> Extracted:
        from ..reader import decode_bytes

        text, encoding = decode_bytes(data, str(path))
        return Extracted(text, None, {"encoding": encoding})


class HtmlReader:
    """The visible text of a page, laid out as paragraphs (see :mod:`ragchips.htmltext`)."""

    name = "html"
    suffixes = (".html", ".htm", ".xhtml")

    def read(self, path: Path, data: bytes) -> Extracted:
        from ..errors import UnreadableFileError
        from ..htmltext import extract_page
        from ..reader import decode_bytes

        html, encoding = decode_bytes(data, str(path))
        page = extract_page(html)
        if not page.text.strip():
            raise UnreadableFileError(f"{path}: no visible text in this HTML page")
        metadata = {"encoding": encoding, "format": "html", **page.metadata}
        return Extracted(page.text, page.title, metadata)
