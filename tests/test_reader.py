from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from unittest.mock import ANY

import pytest

from ragchips import reader
from ragchips.errors import UnreadableFileError
from ragchips.reader import decode_bytes, read_document, read_documents, read_jsonl

FRENCH = "L’été à Orléans : « déjà vu », œuvre, façade, 80 % — très célèbre.\n"


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "latin-1"])
def test_french_encodings_decode_without_mojibake(tmp_path: Path, encoding: str) -> None:
    text = FRENCH if encoding == "cp1252" else FRENCH.replace("’", "'").replace("œ", "oe")
    text = text if encoding != "latin-1" else text.replace("—", "-")
    path = tmp_path / "a.txt"
    path.write_bytes(("Titre\n\n" + text).encode(encoding))
    doc = read_document(path)
    assert text in doc.text
    assert "Ã" not in doc.text and "\ufffd" not in doc.text
    assert doc.title == "Titre"


def test_utf8_bom_is_dropped_and_crlf_kept(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfTitre\r\n\r\nCorps du texte.\r\n")
    doc = read_document(path)
    assert doc.text == "Titre\r\n\r\nCorps du texte.\r\n"
    assert doc.title == "Titre"


def test_binary_and_empty_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(UnreadableFileError, match="binary"):
        read_document(binary)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"  \n\n")
    with pytest.raises(UnreadableFileError, match="empty"):
        read_document(empty)


def test_oversized_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_FILE_BYTES", 10)
    path = tmp_path / "big.txt"
    path.write_text("Un texte de plus de dix octets.", encoding="utf-8")
    with pytest.raises(UnreadableFileError, match="limit"):
        read_document(path)


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="cannot read"):
        read_document(tmp_path / "missing.txt")


def test_decode_bytes_reports_encoding() -> None:
    assert decode_bytes("été".encode()) == ("été", "utf-8")
    assert decode_bytes("été ’".encode("cp1252")) == ("été ’", "cp1252")


def test_folder_reading_skips_bad_files_and_names_them(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Titre A\n\nUn article.", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("Titre B\n\nUn autre article.", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF")
    (tmp_path / "slides.pptx").write_bytes(b"PK\x03\x04")
    skipped: list[tuple[str, str]] = []
    docs = read_documents([tmp_path], on_skip=lambda p, r: skipped.append((p, r)))
    assert sorted(d.title for d in docs) == ["Titre A", "Titre B"]
    assert len({d.doc_id for d in docs}) == 2  # same stem "a" twice, distinct ids
    reasons = {Path(p).name: r for p, r in skipped}
    assert sorted(reasons) == ["bad.txt", "broken.pdf", "empty.md", "slides.pptx"]
    assert "not a readable PDF" in reasons["broken.pdf"]
    assert reasons["slides.pptx"].kind == "unsupported" and ".pptx" in reasons["slides.pptx"]
    assert reasons["bad.txt"].kind == "unreadable" and "binary" in reasons["bad.txt"]


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_documents([tmp_path / "nope"])


def test_jsonl_documents_keep_metadata_and_report_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [
        json.dumps({"id": "d1", "title": "Un", "text": "Premier texte.", "lang": "fr"}),
        "{not json",
        json.dumps({"doc_id": "d2", "text": "Deuxième texte."}),
        json.dumps({"doc_id": "d1", "text": "Doublon."}),
        json.dumps({"doc_id": "d3", "text": "   "}),
        json.dumps(["a", "list"]),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    skipped: list[str] = []
    docs = read_jsonl(path, on_skip=lambda p, r: skipped.append(r))
    assert [d.doc_id for d in docs] == ["d1", "d2"]
    assert docs[0].metadata["lang"] == "fr" and docs[0].title == "Un"
    assert docs[1].text == "Deuxième texte."
    assert any(":2:" in r and "JSON" in r for r in skipped)
    assert any(":4:" in r and "already used on line 1" in r for r in skipped)
    assert any(":5:" in r and "text" in r for r in skipped)
    assert any(":6:" in r and "object" in r for r in skipped)


def test_html_is_read_as_visible_text(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Onglet</title><style>p{color:red}</style>"
        "<script>var x = 'secret';</script></head><body><nav>Accueil | Contact</nav>"
        "<h1>Le  titre &amp; sa suite</h1><p>Premier <b>paragraphe</b>.</p>"
        "<p>Deuxième\nparagraphe.</p></body></html>",
        encoding="utf-8",
    )
    doc = read_document(page)
    assert doc.title == "Le titre & sa suite"
    assert doc.text == "Le titre & sa suite\n\nPremier paragraphe.\n\nDeuxième paragraphe.\n"
    assert "secret" not in doc.text and "Accueil" not in doc.text and "color" not in doc.text
    assert doc.metadata["format"] == "html"


def test_relative_folder_above_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Titre\n\nTexte.", encoding="utf-8")
    work = tmp_path / ".hidden" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert [d.title for d in read_documents(["../../docs"])] == ["Titre"]
    (docs / ".cache").mkdir()
    (docs / ".cache" / "b.txt").write_text("Caché\n\nTexte.", encoding="utf-8")
    assert len(read_documents([docs])) == 1  # hidden folders inside are still skipped


def test_jsonl_keeps_unicode_line_separators_inside_records(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    text = "Première ligne\u2028seconde\u0085troisième"
    path.write_text(
        json.dumps({"id": "x", "text": text}, ensure_ascii=False)
        + "\r\n"
        + json.dumps({"id": "y", "text": "autre"})
        + "\n",
        encoding="utf-8",
    )
    docs = read_jsonl(path)
    assert [d.doc_id for d in docs] == ["x", "y"] and docs[0].text == text
    assert docs[1].metadata["line"] == 2


def test_unreadable_jsonl_is_skipped_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_bytes(b"\x00\x01binary")
    (tmp_path / "ok.txt").write_text("Titre\n\nTexte.", encoding="utf-8")
    skipped: list[str] = []
    docs = read_documents([tmp_path], on_skip=lambda p, r: skipped.append(p))
    assert [d.title for d in docs] == ["Titre"] and skipped == [str(tmp_path / "bad.jsonl")]


def test_a_link_to_nothing_in_a_folder_is_reported_not_passed_over(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Titre A\n\nUn article.", encoding="utf-8")
    (tmp_path / "b.txt").symlink_to(tmp_path / "gone.txt")
    skipped: list[tuple[str, str]] = []
    docs = read_documents([tmp_path], on_skip=lambda p, r: skipped.append((p, r)))
    assert [d.title for d in docs] == ["Titre A"]
    assert [Path(p).name for p, _ in skipped] == ["b.txt"]
    assert "a link to nothing" in skipped[0][1] and "gone.txt" in skipped[0][1]


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses such names")
def test_a_file_name_that_is_not_utf8_is_skipped_in_one_line(tmp_path: Path) -> None:
    """A name from an old latin-1 share crashed the whole build when the index was written
    (its files are UTF-8 JSON); it is now skipped, the other files indexed."""
    from ragchips import Index
    from ragchips.embedding import HashEmbedder

    folder = tmp_path / "d"
    folder.mkdir()
    bad = os.fsdecode(bytes(folder) + b"/pisc\xe9ine.txt")
    Path(bad).write_text("Le bassin fait 25 m.", encoding="utf-8")
    (folder / "ok.txt").write_text("Le chat dort.", encoding="utf-8")
    skipped: list[tuple[str, str]] = []
    index = Index.build(
        [folder],
        embedder=HashEmbedder(16),
        out=tmp_path / "i",
        on_skip=lambda *s: skipped.append(s),
    )
    assert index.doc_ids() == ["ok"]
    assert skipped == [(str(folder / "pisc\\xe9ine.txt"), ANY)]
    assert skipped[0][1].endswith("pisc\\xe9ine.txt: the file name is not valid UTF-8; rename it")
    with pytest.raises(UnreadableFileError, match="not valid UTF-8"):
        Index.build([bad], embedder=HashEmbedder(16), out=tmp_path / "j")
