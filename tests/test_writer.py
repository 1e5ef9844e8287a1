"""Changing an index: incremental, atomic, equal to a fresh build, safe against crashes."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ragchips import Index
from ragchips.api import open_index
from ragchips.dense import DenseConfig
from ragchips.embedding import HashEmbedder
from ragchips.errors import IndexLockedError, RagchipsError
from ragchips.maintenance import verify
from ragchips.reader import Document

BIN = Path(sys.executable).parent
HASH = ("--embedder", "hash-64")
WORDS = [
    "puce",
    "usine",
    "fabrique",
    "conception",
    "Taïwan",
    "modèle",
    "énergie",
    "réseau",
    "données",
    "serveur",
    "calcul",
    "mémoire",
    "festival",
    "lanterne",
    "oiseau",
    "migrateur",
    "rivière",
    "montagne",
    "village",
    "élection",
    "budget",
    "ministre",
    "école",
    "hôpital",
    "train",
]


def doc(doc_id: str, seed: int, paragraphs: int = 2) -> Document:
    rng = np.random.default_rng(seed)
    text = "\n\n".join(
        " ".join(rng.choice(WORDS, size=int(rng.integers(8, 40)))) + "." for _ in range(paragraphs)
    )
    return Document(
        doc_id,
        f"{doc_id}.txt",
        f"Titre {doc_id}",
        text,
        hashlib.sha256(text.encode()).hexdigest(),
        {"year": 2000 + seed % 5},
    )


class CountingEmbedder(HashEmbedder):
    """The hash stand-in, counting the passages it embeds."""

    def __init__(self) -> None:
        super().__init__(64)
        self.embedded = 0

    def embed_passages(self, texts, progress=None):  # type: ignore[no-untyped-def]
        self.embedded += len(texts)
        return super().embed_passages(texts, progress)


QUESTIONS = ["usine de puce", "festival des oiseaux migrateurs", "budget du ministre", "train"]


def ranking(idx: Index, mode: str) -> list[list[tuple[str, int, int, float]]]:
    out = []
    for q in QUESTIONS:
        hits = idx.search(q, k=8, mode=mode)
        out.append([(h.doc_id, h.start, h.end, round(h.score, 5)) for h in hits])
    return out


def same_up_to_ties(a: list, b: list) -> bool:
    """Equal scores in order (up to float noise), and the same passages within every group
    of tied scores except the last one, which k may cut."""
    for ra, rb in zip(a, b, strict=True):
        if len(ra) != len(rb) or any(abs(x[3] - y[3]) > 2e-5 for x, y in zip(ra, rb)):
            return False
        start = 0
        for i in range(1, len(ra) + 1):
            if i == len(ra) or abs(ra[i][3] - ra[i - 1][3]) > 2e-5:
                group_a = {x[:3] for x in ra[start:i]}
                group_b = {y[:3] for y in rb[start:i]}
                if i < len(ra) and group_a != group_b:
                    return False
                start = i
    return True


def test_python_add_update_delete(tmp_path: Path) -> None:
    emb = CountingEmbedder()
    idx = Index.build([doc("a", 1), doc("b", 2)], embedder=emb, out=tmp_path / "i")
    before = emb.embedded
    idx.add([doc("c", 3)])
    # Only the new document was embedded.
    assert emb.embedded - before == sum(1 for p in idx.passages if p.doc_id == "c") > 0
    assert sorted(idx.doc_ids()) == ["a", "b", "c"]
    new_b = doc("b", 99)
    report = idx.update([new_b])
    assert report.updated == ["b"]
    assert idx.document("b").text == new_b.text
    ids_c = sorted(p.passage_id for p in idx.passages if p.doc_id == "c")
    idx.delete(["a"])
    idx.compact()
    assert sorted(idx.doc_ids()) == ["b", "c"]
    # Passage ids are stable: other documents' changes and merges never renumber them.
    assert sorted(p.passage_id for p in idx.passages if p.doc_id == "c") == ids_c
    assert {p.doc_id for p in idx.passages} == {"b", "c"}
    reopened = Index.load(tmp_path / "i", embedder=emb)
    assert sorted(reopened.doc_ids()) == ["b", "c"] and len(reopened) == len(idx)
    assert verify(tmp_path / "i").ok


def test_sync_keeps_the_index_s_own_chunker(tmp_path: Path) -> None:
    """An index cut by an older splitter is brought up to date without being cut again:
    only the new document is embedded, and it is cut as the others were."""
    from ragchips.chunking import ChunkerSettings

    old = ChunkerSettings(splitter="langchain-recursive-fr-v1")
    emb = CountingEmbedder()
    Index.build([doc("a", 1), doc("b", 2)], embedder=emb, out=tmp_path / "i", chunker=old)
    before = emb.embedded
    idx, report = Index.sync([doc("a", 1), doc("b", 2), doc("c", 3)], tmp_path / "i", embedder=emb)
    assert report.added == ["c"] and report.kept == 2
    assert emb.embedded - before == sum(1 for p in idx.passages if p.doc_id == "c")
    assert idx.manifest["chunker"]["splitter"] == "langchain-recursive-fr-v1"
    # Asked for, a new chunker rebuilds.
    idx, _ = Index.sync([doc("a", 1)], tmp_path / "i", embedder=emb, chunker=ChunkerSettings())
    assert idx.manifest["chunker"]["splitter"] == ChunkerSettings().splitter


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda i: i.add([doc("a", 5)]), "already in the index"),
        (lambda i: i.delete(["nope"]), "no document 'nope'"),
        (lambda i: i.update([doc("a", 5), doc("a", 6)]), "given twice"),
        (lambda i: i.delete(["a", "b"]), "without any document"),
    ],
)
def test_bad_changes_are_refused_and_lose_nothing(tmp_path: Path, call, message) -> None:
    idx = Index.build([doc("a", 1), doc("b", 2)], embedder=HashEmbedder(64), out=tmp_path / "i")
    before = ranking(idx, "hybrid")
    with pytest.raises(RagchipsError, match=message):
        call(idx)
    again = Index.load(tmp_path / "i", embedder=HashEmbedder(64))
    assert ranking(again, "hybrid") == before and sorted(again.doc_ids()) == ["a", "b"]


OPS = st.lists(
    st.tuples(st.sampled_from(["add", "update", "delete", "compact"]), st.integers(0, 11)),
    min_size=1,
    max_size=7,
)


def _replay(tmp_path: Path, ops: list[tuple[str, int]], dense: DenseConfig) -> None:
    emb = HashEmbedder(32)
    live = {f"d{i}": doc(f"d{i}", i) for i in range(3)}
    out = tmp_path / f"i{abs(hash(tuple(ops))) % 10**8}"
    idx = Index.build(list(live.values()), embedder=emb, out=out, dense=dense)
    version = 100
    for op, n in ops:
        name = f"d{n}"
        if op == "add" and name not in live:
            live[name] = doc(name, n)
            idx.add([live[name]])
        elif op == "update" and name in live:
            version += 1
            live[name] = doc(name, version, paragraphs=1 + version % 3)
            idx.update([live[name]])
        elif op == "delete" and name in live and len(live) > 1:
            del live[name]
            idx.delete([name])
        elif op == "compact":
            idx.compact()
    fresh = Index.build(list(live.values()), embedder=emb, out=out.with_suffix(".f"), dense=dense)
    for mode in ("hybrid", "lexical", "dense"):
        assert same_up_to_ties(ranking(idx, mode), ranking(fresh, mode)), (mode, ops)
    assert len(idx) == len(fresh)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
@example(ops=[("delete", 1), ("delete", 2)])  # one passage left: no spread to divide by
def test_updates_equal_a_fresh_build_exact_path(tmp_path: Path, ops) -> None:
    _replay(tmp_path, ops, DenseConfig(kind="flat"))


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
@example(ops=[("delete", 1), ("delete", 2)])  # found by hypothesis: noise / noise as z-scores
def test_updates_equal_a_fresh_build_approximate_path(tmp_path: Path, ops) -> None:
    # IVF on every segment, every list probed: what is tested is the bookkeeping of the
    # approximate path (ids, deletions, merges), not FAISS's recall.
    _replay(tmp_path, ops, DenseConfig(kind="ivf", min_rows=1, nlist=1, nprobe=1))


def run(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ragchips"), *args], capture_output=True, text=True, timeout=300, **kw
    )


def test_cli_index_is_incremental(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(4):
        (docs / f"n{i}.txt").write_text(doc(f"n{i}", i).text, "utf-8")
    out = docs / "index"  # the index inside the folder it indexes: never read back
    first = run("index", str(docs), "--out", str(out), "--embedder", "hash-64")
    assert first.returncode == 0, first.stderr
    assert "added 4, updated 0, removed 0, kept 0" in first.stdout
    again = run("index", str(docs), "--out", str(out), "--embedder", "hash-64")
    assert "added 0, updated 0, removed 0, kept 4" in again.stdout and again.stderr == ""
    (docs / "n1.txt").write_text(doc("n1", 50).text, "utf-8")
    (docs / "n2.txt").unlink()
    (docs / "n3.txt").write_bytes(b"\x00\x01binary now")
    (docs / "n9.txt").write_text(doc("n9", 9).text, "utf-8")
    third = run("index", str(docs), "--out", str(out), "--embedder", "hash-64")
    assert "added 1, updated 1, removed 2, kept 1" in third.stdout, third.stdout
    assert "n3.txt" in third.stderr and "binary" in third.stderr
    idx = Index.load(out)
    assert sorted(idx.doc_ids()) == ["n0", "n1", "n9"]
    assert idx.document("n1").text == doc("n1", 50).text
    idx.close()  # a reader left open keeps its segments on disk (verify would note them)
    full = run("index", str(docs), "--out", str(out), "--embedder", "hash-64", "--full")
    assert "added 3, updated 0, removed 0, kept 0" in full.stdout
    ok = run("verify", str(out))
    assert ok.returncode == 0 and ok.stdout.startswith("ok: 3 documents")


def test_cli_index_keeps_an_older_index_s_chunker(tmp_path: Path) -> None:
    """`ragchips index` over an index cut by an older splitter, with custom sizes, embeds
    nothing again; new sizes keep its splitter; --full keeps its sizes, with today's splitter."""
    from ragchips.chunking import ChunkerSettings

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"n{i}.txt").write_text(doc(f"n{i}", i).text, "utf-8")
    out = tmp_path / "idx"
    old = ChunkerSettings(chunk_size=300, chunk_overlap=60, splitter="langchain-recursive-fr-v1")
    Index.build([docs], embedder=HashEmbedder(64), out=out, chunker=old)
    again = run("index", str(docs), "--out", str(out), "--embedder", "hash-64")
    assert "added 0, updated 0, removed 0, kept 3" in again.stdout, again.stdout
    assert Index.load(out).manifest["chunker"] == old.to_dict()
    resized = run(
        "index", str(docs), "--out", str(out), "--embedder", "hash-64", "--chunk-size", "200"
    )
    assert "added 3" in resized.stdout
    assert Index.load(out).manifest["chunker"]["splitter"] == "langchain-recursive-fr-v1"
    assert Index.load(out).manifest["chunker"]["chunk_size"] == 200
    full = run("index", str(docs), "--out", str(out), "--embedder", "hash-64", "--full")
    assert "added 3" in full.stdout
    kept = Index.load(out).manifest["chunker"]
    assert kept == {**old.to_dict(), "chunk_size": 200, "splitter": ChunkerSettings().splitter}


def test_second_cli_writer_gets_a_clear_message(tmp_path: Path) -> None:
    idx = Index.build([doc("a", 1)], embedder=HashEmbedder(64), out=tmp_path / "i")
    from ragchips.storage import writer_lock

    (tmp_path / "d.txt").write_text(doc("d", 4).text, "utf-8")
    with writer_lock(tmp_path / "i"):
        out = run("index", str(tmp_path / "d.txt"), "--out", str(tmp_path / "i"))
    assert out.returncode != 0 and "another writer" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert sorted(Index.load(tmp_path / "i", embedder=HashEmbedder(64)).doc_ids()) == ["a"]
    del idx


def test_readers_keep_answering_during_writes(tmp_path: Path) -> None:
    emb = HashEmbedder(64)
    writer = Index.build([doc(f"w{i}", i) for i in range(20)], embedder=emb, out=tmp_path / "i")
    errors: list[BaseException] = []
    counts: set[int] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                idx = open_index(tmp_path / "i")
                hits = idx.search("usine de puce", k=5)
                assert hits and all(
                    h.text == idx.document(h.doc_id).text[h.start : h.end] for h in hits
                )
                counts.add(len(idx.doc_ids()))
            except BaseException as exc:
                errors.append(exc)
                return

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for i in range(20, 32):
            writer.add([doc(f"w{i}", i)])
            writer.delete([f"w{i - 20}"])
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors[0]
    assert len(counts) >= 1 and all(12 <= c <= 21 for c in counts)
    assert open_index(tmp_path / "i").doc_ids() == writer.doc_ids()


CRASH_SCRIPT = """
import sys
from ragchips import Index
from ragchips.embedding import HashEmbedder
sys.path.insert(0, sys.argv[2])
from test_writer import doc
print("ready", flush=True)
sys.stdin.readline()
idx, report = Index.sync([doc(f"n{i}", i) for i in range(int(sys.argv[3]))], sys.argv[1],
                         embedder=HashEmbedder(64))
print("done", flush=True)
"""


def test_sigkill_at_any_moment_leaves_the_old_or_the_new_index(tmp_path: Path) -> None:
    target = tmp_path / "i"
    old_ids = [f"n{i}" for i in range(30)]
    new_n = 400
    Index.build([doc(i, int(i[1:])) for i in old_ids], embedder=HashEmbedder(64), out=target)
    new_ids = sorted(f"n{i}" for i in range(new_n))

    def start(folder: Path) -> subprocess.Popen[str]:
        here = str(Path(__file__).parent)
        p = subprocess.Popen(
            [sys.executable, "-c", CRASH_SCRIPT, str(folder), here, str(new_n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        return p

    # How long one write takes, to spread the kills over all of it.
    probe_dir = tmp_path / "probe"
    Index.build([doc(i, int(i[1:])) for i in old_ids], embedder=HashEmbedder(64), out=probe_dir)
    p = start(probe_dir)
    t0 = time.monotonic()
    p.communicate("go\n", timeout=300)
    duration = time.monotonic() - t0
    outcomes = []
    for i in range(22):
        proc = start(target)
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(duration * (i + 0.5) / 22)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        idx = Index.load(target, embedder=HashEmbedder(64))
        ids = sorted(idx.doc_ids())
        assert ids in (sorted(old_ids), new_ids), f"kill {i}: a mix of {len(ids)} documents"
        assert idx.search("usine de puce", k=3)
        assert verify(target).ok, verify(target).problems
        outcomes.append(ids == new_ids)
        if ids == new_ids:  # back to the old state for the next kill
            Index.sync([doc(i, int(i[1:])) for i in old_ids], target, embedder=HashEmbedder(64))
    assert not all(outcomes), "every kill came too late to test anything"


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_full_disk_mid_write_leaves_the_old_index_answering(tmp_path: Path) -> None:
    Index.build([doc("a", 1)], embedder=HashEmbedder(64), out=tmp_path / "i")
    big = tmp_path / "big.jsonl"
    big.write_text(
        "\n".join(json.dumps({"id": f"b{i}", "text": doc("x", i, 3).text}) for i in range(300)),
        "utf-8",
    )
    out = subprocess.run(
        # --prune: "a" was added in Python, and no path given holds it
        [str(BIN / "ragchips"), "index", str(big), "--out", str(tmp_path / "i"), *HASH, "--prune"],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size,
    )
    assert out.returncode != 0 and "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "File too large; the index is unchanged" in errors[0]
    idx = Index.load(tmp_path / "i", embedder=HashEmbedder(64))
    assert idx.doc_ids() == ["a"] and idx.search("puce", k=1)
    assert verify(tmp_path / "i").ok
    assert not [p for p in (tmp_path / "i").iterdir() if p.name.startswith(".tmp-")]


def test_sources_lead_to_the_files_from_another_folder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text(doc("a", 1).text, "utf-8")
    monkeypatch.chdir(tmp_path)
    Index.build([Path("docs")], embedder=HashEmbedder(64), out=Path("idx"))
    monkeypatch.chdir(Path(os.sep))
    p = Index.load(tmp_path / "idx").search("puce", k=1)[0]
    assert Path(p.source) == tmp_path / "docs" / "a.txt"
    assert Path(p.source).read_text("utf-8")[p.start : p.end] == p.text


def test_writer_lock_error_names_the_holder(tmp_path: Path) -> None:
    from ragchips.storage import writer_lock

    idx = Index.build([doc("a", 1)], embedder=HashEmbedder(64), out=tmp_path / "i")
    with writer_lock(tmp_path / "i"), pytest.raises(IndexLockedError, match=f"pid {os.getpid()}"):
        idx._change(add=[doc("b", 2)], wait=0)


def test_a_file_gone_before_the_write_is_removed_by_the_next_update(tmp_path: Path) -> None:
    # Read, then deleted before the index was written: it was recorded as a document added
    # from Python, and every later `ragchips index` refused to drop it.
    from ragchips.reader import read_documents

    folder = tmp_path / "d"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.txt").write_text(f"Le document {name} parle du port.", "utf-8")
    docs = read_documents([folder])
    (folder / "a.txt").unlink()
    Index.build(docs, embedder=HashEmbedder(16), out=tmp_path / "i")
    index, report = Index.sync([folder], tmp_path / "i", embedder=HashEmbedder(16), prune=False)
    assert report.removed == ["a"] and index.doc_ids() == ["b"]


def test_full_keeps_the_index_s_embedder(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "n0.txt").write_text(doc("n0", 0).text, "utf-8")
    out = tmp_path / "idx"
    assert run("index", str(docs), "--out", str(out), "--embedder", "hash-64").returncode == 0
    full = run("index", str(docs), "--out", str(out), "--full")
    assert full.returncode == 0, full.stderr
    assert json.loads((out / "manifest.json").read_text())["embedder"]["name"] == "hash-64"


def test_a_relative_source_is_recorded_where_it_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read as "docs/a.txt" in one folder, written from another: the path recorded is the
    # file's, not "other/docs/a.txt".
    from ragchips.reader import read_documents

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Le document a parle du port.", "utf-8")
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path)
    docs = read_documents(["docs"])
    monkeypatch.chdir(tmp_path / "other")
    index = Index.build(docs, embedder=HashEmbedder(16), out=tmp_path / "i")
    assert index.passages[0].source == str(tmp_path / "docs" / "a.txt")


@pytest.mark.parametrize("recorded", [5, {"name": "nosuch-embedder", "dim": 16}])
def test_full_rebuilds_an_index_whose_embedder_record_is_unusable(
    tmp_path: Path, recorded: Any
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "n0.txt").write_text(doc("n0", 0).text, "utf-8")
    out = tmp_path / "idx"
    assert run("index", str(docs), "--out", str(out), "--embedder", "hash-64").returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["embedder"] = recorded
    (out / "manifest.json").write_text(json.dumps(manifest))
    full = run("index", str(docs), "--out", str(out), "--full", "--embedder", "hash-32")
    assert full.returncode == 0, full.stderr
    bare = run("index", str(docs), "--out", str(out), "--full")  # no --embedder: the default
    assert bare.returncode == 0 and "Traceback" not in bare.stderr


def test_a_moved_collection_records_its_new_paths_and_stays_protected(tmp_path: Path) -> None:
    """A folder renamed: its documents are read again from their new paths (sources were
    left pointing at files that no longer exist), and a later update naming one other file
    is refused instead of removing the whole collection."""
    from ragchips.errors import RagchipsError

    coll, out = tmp_path / "coll", tmp_path / "i"
    coll.mkdir()
    for name in ("velo", "train"):
        (coll / f"{name}.txt").write_text(f"Le {name} est un moyen de transport.", "utf-8")
    Index.sync([coll], out, embedder=HashEmbedder(16))
    moved = coll.rename(tmp_path / "coll2")
    index, report = Index.sync([moved], out, embedder=HashEmbedder(16), prune=False)
    assert sorted(report.updated) == ["train", "velo"] and report.removed == []
    assert {p.source for p in index.passages} == {
        str(moved / "train.txt"),
        str(moved / "velo.txt"),
    }
    _, again = Index.sync([moved], out, embedder=HashEmbedder(16), prune=False)
    assert again.updated == [] and again.kept == 2  # moved once, then unchanged
    (tmp_path / "note.txt").write_text("Une note sur le tramway.", "utf-8")
    with pytest.raises(RagchipsError, match="--prune"):
        Index.sync([tmp_path / "note.txt"], out, embedder=HashEmbedder(16), prune=False)
    assert Index.load(out).doc_ids() == ["train", "velo"]
