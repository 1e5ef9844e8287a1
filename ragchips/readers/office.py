"""Word (.docx, python-docx, MIT) and OpenDocument text (.odt, odfpy, Apache-2.0/LGPL).

Paragraphs and table rows in document order, one paragraph per block (a row's cells joined
by " | ", as for HTML: a cell alone loses the key of its row); title and author from the
file's own properties when set.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import Extracted

__all__ = ["DocxReader", "OdtReader"]


def _missing_extra(path: Path, what: str) -> Exception:
    from ..errors import UnreadableFileError
    from .base import SkipReason

    return UnreadableFileError(
        SkipReason(
            f"{path}: reading {what} needs the 'formats' extra: pip install 'ragchips[formats]'",
            "missing-extra",
        )
    )


def _join(blocks: list[str], path: Path) -> str:
    from ..errors import UnreadableFileError

    kept = [" ".join(b.split()) for b in blocks]
    kept = [b for b in kept if b]
    if not kept:
        raise UnreadableFileError(f"{path}: no text in this document")
    return "\n\n".join(kept) + "\n"


class DocxReader:
    name: str = "docx"
    suffixes: tuple[str, ...] = (".docx",)
    max_bytes = 256 * 2**20  # embedded images count in the file size

    def read(self, path: Path, data: bytes) -> Extracted:
        from ..errors import UnreadableFileError

        try:
            import docx
            from docx.table import Table
            from docx.text.paragraph import Paragraph
        except ImportError:
            raise _missing_extra(path, "Word files") from None
        try:
            document = docx.Document(io.BytesIO(data))
        except Exception as exc:  # python-docx raises zipfile/KeyError/ValueError alike
            raise UnreadableFileError(f"{path}: not a readable .docx file ({exc})") from exc
        blocks: list[str] = []
        heading: str | None = None
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                blocks.append(item.text)
                style = (item.style.name if item.style is not None else "") or ""
                if heading is None and item.text.strip() and style.startswith(("Title", "Heading")):
                    heading = item.text
            elif isinstance(item, Table):
                for row in item.rows:
                    seen: set[int] = set()
                    cells = []
                    for cell in row.cells:  # merged cells repeat: keep each once
                        if id(cell._tc) not in seen:
                            seen.add(id(cell._tc))
                            cells.append(" ".join(cell.text.split()))
                    blocks.append(" | ".join(c for c in cells if c))
        props = document.core_properties
        metadata: dict[str, Any] = {"format": "docx"}
        if props.author:
            metadata["author"] = props.author
        title = (props.title or "").strip() or (" ".join(heading.split()) if heading else None)
        return Extracted(_join(blocks, path), title, metadata)


class OdtReader:
    name: str = "odt"
    suffixes: tuple[str, ...] = (".odt",)
    max_bytes = 256 * 2**20

    def read(self, path: Path, data: bytes) -> Extracted:
        from ..errors import UnreadableFileError

        try:
            from odf import teletype
            from odf.namespaces import TABLENS, TEXTNS
            from odf.opendocument import load
        except ImportError:
            raise _missing_extra(path, "OpenDocument files") from None
        try:
            document = load(io.BytesIO(data))
        except Exception as exc:  # odfpy raises zipfile/KeyError/xml errors alike
            raise UnreadableFileError(f"{path}: not a readable .odt file ({exc})") from exc

        def blocks(node: Any) -> Iterator[tuple[bool, str]]:
            for child in node.childNodes:
                if getattr(child, "qname", None) in ((TEXTNS, "p"), (TEXTNS, "h")):
                    yield child.qname[1] == "h", teletype.extractText(child)
                elif getattr(child, "qname", None) == (TABLENS, "table-row"):
                    cells = (  # a cell's paragraphs are one cell: " | " parts cells only
                        " ".join(" ".join(t for _, t in blocks(cell)).split())
                        for cell in child.childNodes
                        if getattr(cell, "qname", None) == (TABLENS, "table-cell")
                    )
                    yield False, " | ".join(c for c in cells if c)
                elif getattr(child, "childNodes", None):
                    yield from blocks(child)

        found = list(blocks(document.text))
        metadata: dict[str, Any] = {"format": "odt"}
        title = None
        for element in document.meta.childNodes:
            local = element.qname[1] if getattr(element, "qname", None) else ""
            value = teletype.extractText(element).strip()
            if local == "title" and value:
                title = value
            elif local in ("initial-creator", "creator") and value:
                metadata.setdefault("author", value)
        if title is None:
            title = next((" ".join(t.split()) for h, t in found if h and t.strip()), None)
        return Extracted(_join([t for _, t in found], path), title, metadata)
