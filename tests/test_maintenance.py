"""ragchips verify (every byte, every part) and upgrades of format-1 indexes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ragchips import Index
from ragchips.embedding import HashEmbedder
from ragchips.errors import CorruptIndexError
from ragchips.maintenance import upgrade, verify
from ragchips.reader import Document

BIN = Path(sys.executable).parent
TEXTS = [
    "La puce sera fabriquée à Taïwan.\n\nLa production commencera en 2026.",
    "Le festival a pour thème les oiseaux migrateurs.",
]


def docs() -> list[Document]:
    return [
        Document(f"d{i}", f"d{i}.txt", f"Titre {i}", t, hashlib.sha256(t.encode()).hexdigest())
        for i, t in enumerate(TEXTS)
    ]


def test_verify_passes_on_a_sound_index_and_names_a_modified_file(tmp_path: Path) -> None:
    Index.build(docs(), embedder=HashEmbedder(16), out=tmp_path / "i")
    report = verify(tmp_path / "i")
    assert report.ok and report.documents == 2 and report.passages >= 2
    seg = next((tmp_path / "i").glob("seg-*"))
    vectors = seg / "vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[-4:] = b"\x00\x00\x80\x3f"  # same size, other numbers
    vectors.write_bytes(bytes(data))
    report = verify(tmp_path / "i")
    assert not report.ok and "vectors.npy" in report.problems[0] and "sha256" in report.problems[0]
    out = subprocess.run(
        [str(BIN / "ragchips"), "verify", str(tmp_path / "i")], capture_output=True, text=True
    )
    assert out.returncode == 1 and "--full" in out.stderr and "Traceback" not in out.stderr


def test_verify_names_a_segment_count_the_manifest_gets_wrong(tmp_path: Path) -> None:
    Index.build(docs(), embedder=HashEmbedder(16), out=tmp_path / "i")
    path = tmp_path / "i" / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["segments"][0]["rows"] += 3
    path.write_text(json.dumps(manifest), encoding="utf-8")
    report = verify(tmp_path / "i")
    assert not report.ok and "the manifest says" in report.problems[0]


def test_verify_notes_what_an_interrupted_write_left_and_the_next_write_removes(
    tmp_path: Path,
) -> None:
    index = Index.build(docs(), embedder=HashEmbedder(16), out=tmp_path / "i")
    crashed = tmp_path / "i" / ".tmp-abc123"
    crashed.mkdir()
    (crashed / "vectors.npy").write_bytes(b"\0" * 2_000_000)
    (tmp_path / "i" / "notes.txt").write_text("not ours")
    report = verify(tmp_path / "i")
    assert report.ok and report.leftovers == [".tmp-abc123 (2.0 MB)"]
    out = subprocess.run(
        [str(BIN / "ragchips"), "verify", str(tmp_path / "i")], capture_output=True, text=True
    )
    assert out.returncode == 0 and ".tmp-abc123 (2.0 MB)" in out.stdout
    index.add([Document("d9", "d9.txt", "T", "Un autre texte.", "h9")])
    assert verify(tmp_path / "i").leftovers == [] and not crashed.exists()


def _format1(directory: Path) -> None:
    """A format-1 index as ragchips 0.1 wrote it (one generation folder, flat FAISS)."""
    import faiss

    emb = HashEmbedder(16)
    gen = directory / "g-0123456789abcdef"
    gen.mkdir(parents=True)
    rows, texts = [], []
    with open(gen / "documents.jsonl", "w", encoding="utf-8") as f:
        for i, d in enumerate(docs()):
            f.write(json.dumps({**d.to_dict()}, ensure_ascii=False) + "\n")
            start = 0
            for para in d.text.split("\n\n"):
                a = d.text.index(para, start)
                rows.append((i, a, a + len(para)))
                texts.append(f"{d.title}\n{para}")
                start = a + len(para)
    np.save(gen / "passages.npy", np.asarray(rows, dtype=np.int64), allow_pickle=False)
    flat = faiss.IndexFlatIP(16)
    flat.add(emb.embed_passages(texts))
    faiss.write_index(flat, str(gen / "dense.faiss"))
    manifest = {
        "format": "ragchips-index",
        "version": 1,
        "embedder": emb.identity(),
        "chunker": {
            "chunk_size": 400,
            "chunk_overlap": 80,
            "splitter": "langchain-recursive-fr-v1",
        },
        "generation": gen.name,
        "files": {},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest), "utf-8")


def test_a_format_1_index_says_how_to_upgrade_and_upgrades_without_embedding(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "old"
    _format1(directory)
    with pytest.raises(CorruptIndexError, match=f"ragchips upgrade {directory}"):
        Index.load(directory)
    out = subprocess.run(
        [str(BIN / "ask"), "puce", "--index", str(directory)], capture_output=True, text=True
    )
    assert out.returncode == 1 and "ragchips upgrade" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    done = subprocess.run(
        [str(BIN / "ragchips"), "upgrade", str(directory)], capture_output=True, text=True
    )
    assert done.returncode == 0 and "nothing re-embedded" in done.stdout, done.stderr
    idx = Index.load(directory)
    assert sorted(idx.doc_ids()) == ["d0", "d1"] and len(idx) == 3
    p = idx.search("festival oiseaux", k=1, mode="lexical")[0]
    assert p.doc_id == "d1" and idx.document("d1").text[p.start : p.end] == p.text
    assert not (directory / "g-0123456789abcdef").exists()
    assert verify(directory).ok
    with pytest.raises(Exception, match="not a format-1 index"):
        upgrade(directory)
    again = subprocess.run(
        [str(BIN / "ragchips"), "upgrade", str(directory)], capture_output=True, text=True
    )  # a script may run it every time: an index already current is no error
    assert again.returncode == 0 and "already at format 2" in again.stdout, again.stderr


def test_a_format_1_span_outside_its_document_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    import numpy as np

    directory = tmp_path / "old"
    _format1(directory)
    gen = directory / "g-0123456789abcdef"
    rows = np.load(gen / "passages.npy")
    rows[0, 2] = 9999
    np.save(gen / "passages.npy", rows)
    before = sorted(p.name for p in directory.iterdir())
    with pytest.raises(CorruptIndexError, match=r"span \[\d+:9999\] lies outside"):
        upgrade(directory)
    assert sorted(p.name for p in directory.iterdir()) == before and gen.exists()


def test_indexing_again_over_a_format_1_index_upgrades_it_and_embeds_nothing(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "old"
    _format1(directory)

    class Refuses(HashEmbedder):
        def embed_passages(self, texts, progress=None):  # type: ignore[no-untyped-def]
            raise AssertionError("nothing should be embedded")

    idx, report = Index.sync(docs(), directory, embedder=Refuses(16))
    assert report.summary() == "added 0, updated 0, removed 0, kept 2"
    assert sorted(idx.doc_ids()) == ["d0", "d1"] and verify(directory).ok


def test_verify_of_a_folder_that_is_no_index_says_so_without_rebuild_advice(
    tmp_path: Path,
) -> None:
    # 'rebuild it with ragchips index PATH... --out DOCS --full' was the advice for a folder
    # of documents, as if it were a damaged index.
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.txt").write_text("Une note.", encoding="utf-8")
    (tmp_path / "app").mkdir()  # another program's manifest.json: no index, not a damaged one
    (tmp_path / "app" / "manifest.json").write_text('{"name": "webapp", "version": 2}', "utf-8")
    for target, message in [
        (tmp_path / "docs", "is not a ragchips index"),
        (tmp_path / "app", "is not a ragchips index (manifest.json is another program's)"),
        (tmp_path / "nope", "no index at"),
    ]:
        out = subprocess.run(
            [str(BIN / "ragchips"), "verify", str(target)], capture_output=True, text=True
        )
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr.startswith("ragchips: error: ") and message in out.stderr, out.stderr
        assert len(out.stderr.splitlines()) == 1 and "--full" not in out.stderr


def test_a_format_1_index_with_a_damaged_manifest_can_be_rebuilt_with_full(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "old"
    _format1(directory)
    (directory / "manifest.json").write_text('{"format": "ragch', "utf-8")  # cut short
    idx, _ = Index.sync(docs(), directory, embedder=HashEmbedder(16), full=True)
    assert sorted(idx.doc_ids()) == ["d0", "d1"] and verify(directory).ok
    assert not list(directory.glob("g-*"))  # the old generation went with the old index


def test_upgrade_of_a_folder_that_is_no_index_says_so(tmp_path: Path) -> None:
    app = tmp_path / "app"  # a web app whose manifest.json happens to say version 1
    (app / "assets").mkdir(parents=True)
    (app / "manifest.json").write_text('{"name": "app", "version": 1, "generation": "assets"}')
    (app / "assets" / "documents.jsonl").write_text('{"x": 1}\n')
    before = {p: p.read_bytes() for p in app.rglob("*") if p.is_file()}
    for target, message in [
        (app, f"{app} is not a ragchips index"),
        (tmp_path / "nope", f"no index at {tmp_path / 'nope'}"),
    ]:
        out = subprocess.run(
            [str(BIN / "ragchips"), "upgrade", str(target)], capture_output=True, text=True
        )
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr.startswith(f"ragchips: error: {message}"), out.stderr
        assert len(out.stderr.splitlines()) == 1
    assert {p: p.read_bytes() for p in app.rglob("*") if p.is_file()} == before


def test_upgrade_of_a_locked_index_gives_advice_it_can_follow(tmp_path: Path) -> None:
    # 'ragchips upgrade' has no --wait: it waits 10 s for another writer, like compact.
    import fcntl
    import os

    directory = tmp_path / "old"
    _format1(directory)
    fd = os.open(directory / "writer.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        out = subprocess.run(
            [str(BIN / "ragchips"), "upgrade", str(directory)], capture_output=True, text=True
        )
    finally:
        os.close(fd)
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "try again" in out.stderr and "--wait" not in out.stderr, out.stderr


def _rewrite(index_dir: Path, rel: str, array: np.ndarray) -> None:
    """Replace one array of the first segment and re-sign it in the manifest, as a buggy
    writer or a hostile index would: sizes and sha256s all agree."""
    path = index_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    seg = manifest["segments"][0]
    np.save(index_dir / seg["name"] / rel, array, allow_pickle=False)
    data = (index_dir / seg["name"] / rel).read_bytes()
    seg["files"][rel] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    path.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize("damage", ["offsets", "order", "postings", "rows"])
def test_consistently_signed_damage_is_reported_not_raised(tmp_path: Path, damage: str) -> None:
    from ragchips import ask

    index = Index.build(docs(), embedder=HashEmbedder(16), out=tmp_path / "i")
    seg = index.segments[0]
    if damage == "offsets":
        offsets = np.asarray(seg.offsets).copy()
        offsets[1] = 2**60
        _rewrite(tmp_path / "i", "docs.offsets.npy", offsets)
    elif damage == "order":
        _rewrite(tmp_path / "i", "docs.order.npy", np.full(seg.n_docs, 99, dtype=np.int64))
    elif damage == "postings":
        rows = np.asarray(seg.postings["stems"].rows).copy()
        rows[:] = 10**6
        _rewrite(tmp_path / "i", "stems/rows.npy", rows)
    else:
        _rewrite(tmp_path / "i", "rows.npy", np.asarray(seg.rows).astype(np.float64))
    index.close()
    report = verify(tmp_path / "i")
    assert not report.ok and all("\n" not in p for p in report.problems)
    if damage in ("offsets", "postings", "rows"):
        with pytest.raises(CorruptIndexError):
            ask("Où la puce sera-t-elle fabriquée ?", index=Index.load(tmp_path / "i"),
                mode="lexical")  # fmt: skip


def test_verify_of_a_malformed_embedder_record_is_a_report(tmp_path: Path) -> None:
    Index.build(docs(), embedder=HashEmbedder(16), out=tmp_path / "i")
    path = tmp_path / "i" / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["embedder"]["dim"] = "64x"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    report = verify(tmp_path / "i")
    assert not report.ok and "embedder is malformed" in report.problems[0]


def test_filters_work_past_a_thousand_fields(tmp_path: Path) -> None:
    from ragchips import ask

    fields = {f"k{i}": f"v{i % 3}" for i in range(1005)}
    documents = [
        Document(f"d{j}", f"d{j}.txt", "T", f"Le texte numéro {j} du recueil.", f"{j:064d}",
                 {**fields, "k1004": f"w{j}"})
        for j in range(3)
    ]  # fmt: skip
    Index.build(documents, embedder=HashEmbedder(16), out=tmp_path / "i")
    got = ask("texte du recueil", index=Index.load(tmp_path / "i"), where={"k1004": "w1"})
    assert [p.doc_id for p in got.passages] == ["d1"]


def test_a_damaged_file_list_is_reported_and_refused(tmp_path: Path) -> None:
    from ragchips.reader import read_documents

    folder = tmp_path / "docs"
    folder.mkdir()
    for i, text in enumerate(TEXTS):
        (folder / f"d{i}.txt").write_text(text, encoding="utf-8")
    Index.build(read_documents([folder]), embedder=HashEmbedder(16), out=tmp_path / "i")
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text(encoding="utf-8"))
    seg = tmp_path / "i" / manifest["segments"][0]["name"]
    files = json.loads((seg / "docs.files.json").read_text(encoding="utf-8"))
    files[0][1] = "0" * 64  # another hash than the record's: an update would trust it
    _resign(tmp_path / "i", "docs.files.json", json.dumps(files).encode())
    report = verify(tmp_path / "i")
    assert not report.ok and "docs.files.json disagrees" in report.problems[0]
    _resign(tmp_path / "i", "docs.files.json", b"[[1, 2, 3]]")
    with pytest.raises(CorruptIndexError, match="not one \\[path, sha256\\] per document"):
        Index.sync([folder], tmp_path / "i", embedder=HashEmbedder(16))


def _resign(index_dir: Path, rel: str, data: bytes) -> None:
    path = index_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    seg = manifest["segments"][0]
    (index_dir / seg["name"] / rel).write_bytes(data)
    seg["files"][rel] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_an_index_of_a_splitter_this_version_does_not_know(tmp_path: Path) -> None:
    """Written by a newer ragchips: it still compacts, an update says --full rebuilds it,
    and --full does (with the recorded sizes and this version's splitter)."""
    from ragchips.chunking import ChunkerSettings
    from ragchips.embedding import HashEmbedder
    from ragchips.errors import ConfigurationError

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Le port de Brest accueille des frégates.", "utf-8")
    out = tmp_path / "i"
    Index.build([docs], embedder=HashEmbedder(16), out=out, chunker=ChunkerSettings(300, 60))
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    manifest["chunker"]["splitter"] = "langchain-recursive-fr-v99"
    (out / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    Index.load(out, verify=False).compact()
    (docs / "b.txt").write_text("La gare de Rennes est au sud.", "utf-8")
    with pytest.raises(ConfigurationError, match=r"v99'.*; --full rebuilds the index"):
        Index.sync([docs], out, embedder=HashEmbedder(16))
    index, _ = Index.sync([docs], out, embedder=HashEmbedder(16), full=True)
    assert index.manifest["chunker"] == ChunkerSettings(300, 60).to_dict()
    assert index.doc_ids() == ["a", "b"]
