"""Plain text, Markdown and HTML: decoded exactly (see :func:`ragchips.reader.decode_bytes`)."""

from __future__ import annotations

from pathlib import Path

from .base import Extracted

__all__ = ["HtmlReader", "TextReader"]


class TextReader:
    """Text as it is on disk, newlines included: offsets point into the file itself. A YAML
    front matter gives the title and metadata and is not indexed (:mod:`ragchips.frontmatter`)."""

    name: str = "text"
    suffixes: tuple[str, ...] = (".txt", ".md", ".markdown", ".text")

    def read(self, path: Path, data: bytes) -> Extracted:
        from ..frontmatter import front_matter
        from ..reader import decode_bytes

        text, encoding = decode_bytes(data, str(path))
        fields = front_matter(text)  # Markdown's YAML header: title, date, author, tags
        title = fields.pop("title", None)
        return Extracted(text, title, {"encoding": encoding, **fields})


class HtmlReader:
    """A page's article (trafilatura, with date and author) or its visible text, laid out
    as paragraphs (see :func:`ragchips.htmltext.extract_page`). ``article=False`` keeps
    the whole visible text: ``register(HtmlReader(article=False))``."""

    name: str = "html"
    suffixes: tuple[str, ...] = (".html", ".htm", ".xhtml")

    def __init__(self, article: bool = True) -> None:
        self.article = article

    def read(self, path: Path, data: bytes) -> Extracted:
        from ..errors import UnreadableFileError
        from ..htmltext import extract_page
        from ..reader import decode_bytes

        html, encoding = decode_bytes(data, str(path))
        page = extract_page(html, use_article=self.article)
        if not page.text.strip():
            raise UnreadableFileError(f"{path}: no visible text in this HTML page")
        metadata = {"encoding": encoding, "format": "html", **page.metadata}
        return Extracted(page.text, page.title, metadata)
