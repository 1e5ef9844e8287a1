"""PDF through pdfium (pypdfium2, Apache-2.0/BSD): the text layer, page by page.

Running headers, footers and page numbers are left out (:mod:`.furniture`); pages are joined
by a blank line, or by a line break where a sentence runs on to the next page, and their
``[start, end]`` offsets kept in ``metadata["pages"]``, so each passage knows its page. A
PDF without a text layer (a scan) is refused with a message that says so: OCR is out of
scope.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .base import Extracted
from .furniture import join_pages, strip_furniture

__all__ = ["PdfReader", "normalise_page_text"]


# pdfium's mark for a word hyphenated at a line end, with the line break if it kept one.
_HYPHEN_POINT = re.compile(r"[\x02\ufffe][ \t]*\n?(?=(\w[\w’'-]*))")
# What follows a hyphen that was written, not added by the line break: a pronoun after its
# verb ("contient-il", "Assurez-vous") or a compound that goes on ("mail-transport-agent").
_CLITICS = frozenset(
    [
        "il",
        "elle",
        "on",
        "ils",
        "elles",
        "je",
        "tu",
        "nous",
        "vous",
        "moi",
        "toi",
        "lui",
        "leur",
        "y",
        "en",
        "le",
        "la",
        "les",
        "ce",
        "là",
        "ci",
        "même",
        "mêmes",
    ]
)


def _hyphen(match: re.Match[str]) -> str:
    after = match.group(1)
    return "-" if after.casefold() in _CLITICS or "-" in after else ""


def normalise_page_text(raw: str) -> str:
    """pdfium ends lines with CRLF and marks hyphenation points with U+0002 or U+FFFE:
    keep plain newlines, join the word the mark splits ("nom-/breux" is "nombreux") and keep
    its hyphen where one was written ("contient-/il"), so the stored text reads as written."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = _HYPHEN_POINT.sub(_hyphen, text)
    for ch in ("\x02", "\ufffe", "\x00"):
        text = text.replace(ch, "")
    return text.strip()


class PdfReader:
    name: str = "pdf"
    suffixes: tuple[str, ...] = (".pdf",)
    max_bytes = 512 * 2**20  # scanned reports are big; the text layer is what counts

    def read(self, path: Path, data: bytes) -> Extracted:
        from ..errors import UnreadableFileError
        from .base import SkipReason

        try:
            import pypdfium2 as pdfium
        except ImportError:
            raise UnreadableFileError(
                SkipReason(
                    f"{path}: reading PDF needs the 'formats' extra: "
                    "pip install 'ragchips[formats]'",
                    "missing-extra",
                )
            ) from None
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise UnreadableFileError(f"{path}: not a readable PDF ({exc})") from exc
        try:
            texts: list[str] = []
            for i in range(len(pdf)):
                page = pdf[i]
                textpage = page.get_textpage()
                texts.append(normalise_page_text(textpage.get_text_range()))
                textpage.close()
                page.close()
            meta: dict[str, Any] = {k: v for k, v in pdf.get_metadata_dict().items() if v}
        finally:
            pdf.close()
        if not any(t.strip() for t in texts):
            raise UnreadableFileError(
                SkipReason(
                    f"{path}: PDF without a text layer ({len(texts)} pages; a scan?): "
                    "skipped, OCR is not supported",
                    "no-text-layer",
                )
            )
        text, pages = join_pages(strip_furniture(texts))
        metadata: dict[str, Any] = {"format": "pdf", "pages": pages}
        if meta.get("Author"):
            metadata["author"] = str(meta["Author"])
        title = str(meta["Title"]).strip() if meta.get("Title") else None
        return Extracted(text + "\n", title or None, metadata)
