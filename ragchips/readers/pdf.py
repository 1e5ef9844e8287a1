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


# pdfium's mark for a hyphen at a line end, with the line break if it kept one, between the
# two parts of the word.
_HYPHEN_POINT = re.compile(r"(\w[\w’'-]*)[\x02\ufffe][ \t]*\n?(\w[\w’'-]*)?")
_WORD = re.compile(r"\w[\w’'-]*\w")
# A pronoun after its verb ("contient-il", "Assurez-vous"): the hyphen was written. Only
# pronouns that end no common word ("meil-leur", "ru-elle", "vil-les" are soft breaks).
_PRONOUNS = frozenset(["il", "ils", "elle", "elles", "on", "je", "tu", "nous", "vous"])
# Words that only ever follow a written hyphen ("peut-être", "au-dessus", "au-delà").
_AFTER_HYPHEN = frozenset(["être", "dessus", "dessous", "delà"])


def document_words(raw_pages: list[str]) -> frozenset[str]:
    """The words of a PDF as its lines show them, the ones broken by a hyphenation mark left
    out: what tells "peut-être" (written so elsewhere) from "nombreux" (joined elsewhere)."""
    words: set[str] = set()
    for raw in raw_pages:
        for piece in re.split(r"\w*[\x02\ufffe]\s*\w*", raw):
            words.update(w.casefold() for w in _WORD.findall(piece))
    return frozenset(words)


def _join(left: str, right: str, words: frozenset[str]) -> str:
    """The two parts of a word broken at a line end, with the hyphen or without it."""
    joined, hyphened = (left + right).casefold(), f"{left}-{right}".casefold()
    if (hyphened in words) != (joined in words):
        return f"{left}-{right}" if hyphened in words else left + right
    written = (
        right[:1].isupper()  # "Jean-/Pierre", "Saint-/Étienne"
        or "-" in left
        or "-" in right  # a compound that goes on: "mail-/transport-agent"
        or (right.casefold() in _PRONOUNS and len(left) >= 4)
        or right.casefold() in _AFTER_HYPHEN
    )
    return f"{left}-{right}" if written else left + right


def normalise_page_text(raw: str, words: frozenset[str] = frozenset()) -> str:
    """pdfium ends lines with CRLF and marks hyphens at a line end with U+0002 or U+FFFE:
    keep plain newlines, and join the word the mark splits, keeping its hyphen where it was
    written (:func:`_join`; ``words``, the document's own, decide first)."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = _HYPHEN_POINT.sub(
        lambda m: _join(m.group(1), m.group(2), words) if m.group(2) else m.group(1), text
    )
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
            raw: list[str] = []
            for i in range(len(pdf)):
                page = pdf[i]
                textpage = page.get_textpage()
                raw.append(textpage.get_text_range())
                textpage.close()
                page.close()
            words = document_words(raw)
            texts = [normalise_page_text(r, words) for r in raw]
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
