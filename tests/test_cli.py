"""The real console scripts, run as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run(cmd: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which(cmd, path=str(BIN)) or shutil.which(cmd)
    assert exe, f"console script {cmd!r} is not installed"
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_ask_prints_answer_and_numbered_sources(seeds_index_path: Path) -> None:
    out = run("ask", "Quel est le nom de code du projet ?", "--index", str(seeds_index_path))
    assert out.returncode == 0, out.stderr
    assert "Sources :" in out.stdout
    assert "[1] " in out.stdout and "seeds/" in out.stdout and "« " in out.stdout


def test_ask_json_is_exactly_to_dict(seeds_index_path: Path) -> None:
    out = run("ask", "Tigris", "-k", "2", "--json", "--index", str(seeds_index_path))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    from ragchips import ask

    expected = ask("Tigris", k=2, index=seeds_index_path).to_dict()
    data.pop("timings")
    expected.pop("timings")
    assert data == expected


def test_ragchips_ask_subcommand(seeds_index_path: Path) -> None:
    out = run("ragchips", "ask", "G42", "--index", str(seeds_index_path), "-k", "1")
    assert out.returncode == 0, out.stderr
    assert "[1]" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "empty"),
        (["x" * 2500], "limit"),
        (["puce", "-k", "0"], "k must"),
        (["puce", "-k", "500"], "k must"),
        (["puce", "--mode", "magic"], "unknown mode"),
        (["puce", "--index", "/nonexistent/index"], "no index"),
    ],
)
def test_ask_errors_are_one_line_without_traceback(
    seeds_index_path: Path, args: list[str], message: str
) -> None:
    if "--index" not in args:
        args = [*args, "--index", str(seeds_index_path)]
    out = run("ask", *args)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert out.stdout == ""


def test_ask_on_corrupt_index_fails_cleanly(index_copy: Path) -> None:
    manifest = json.loads((index_copy / "manifest.json").read_text())
    (index_copy / manifest["segments"][0]["name"] / "rows.npy").write_text("garbage")
    out = run("ask", "puce", "--index", str(index_copy))
    assert out.returncode == 1
    assert "rebuild the index" in out.stderr and "Traceback" not in out.stderr


def test_index_command_builds_and_warns(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "volcan.txt").write_text(
        "Le Piton de la Fournaise\n\nCe volcan de La Réunion entre souvent en éruption.",
        encoding="cp1252",
    )
    (docs / "photo.txt").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    out = run(
        "ragchips",
        "index",
        str(docs),
        "--out",
        str(tmp_path / "idx"),
        env={"RAGCHIPS_E5_ENGINE": "native"},
    )
    assert out.returncode == 0, out.stderr
    assert "indexed 1 documents" in out.stdout and "1 files skipped" in out.stdout
    assert "photo.txt" in out.stderr and "binary" in out.stderr
    # found is calibrated on the new collection itself, once: nothing changed the second time
    assert "found calibrated on this collection" in out.stdout
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["calibration"]["source"] == "auto"
    assert manifest["calibration"]["passages"] == manifest["counts"]["passages"]
    again = run("ragchips", "index", str(docs), "--out", str(tmp_path / "idx"))
    assert again.returncode == 0 and "found calibrated" not in again.stdout
    ans = run("ask", "Quel volcan de La Réunion ?", "--index", str(tmp_path / "idx"), "--json")
    assert json.loads(ans.stdout)["passages"][0]["title"] == "Le Piton de la Fournaise"


def test_indexing_one_file_into_a_collection_does_not_drop_the_others(tmp_path: Path) -> None:
    # `ragchips index new.txt --out idx` on an existing index would have removed every
    # document whose file still exists elsewhere; it is refused, and nothing is touched.
    docs, idx = tmp_path / "docs", str(tmp_path / "idx")
    docs.mkdir()
    (docs / "comte.txt").write_text("Le comté est affiné dix-huit mois.", encoding="utf-8")
    (docs / "brie.txt").write_text("Le brie de Meaux est un fromage.", encoding="utf-8")
    (tmp_path / "roquefort.txt").write_text("Le roquefort mûrit en cave.", encoding="utf-8")
    env = {"RAGCHIPS_E5_ENGINE": "native"}
    assert run("ragchips", "index", str(docs), "--out", idx, env=env).returncode == 0
    manifest = (tmp_path / "idx" / "manifest.json").read_bytes()
    out = run("ragchips", "index", str(tmp_path / "roquefort.txt"), "--out", idx, env=env)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    error = out.stderr.strip().splitlines()[-1]  # after the new file's embedding progress
    assert error.startswith("ragchips: error: 2 documents") and "--prune" in error
    assert (tmp_path / "idx" / "manifest.json").read_bytes() == manifest
    # Every path of the collection: the new file is added, nothing removed.
    both = run("ragchips", "index", str(docs), str(tmp_path / "roquefort.txt"), "--out", idx)
    assert both.returncode == 0 and "added 1, updated 0, removed 0, kept 2" in both.stdout
    # A file that is gone is removed without --prune, as before.
    (docs / "brie.txt").unlink()
    gone = run("ragchips", "index", str(docs), str(tmp_path / "roquefort.txt"), "--out", idx)
    assert gone.returncode == 0 and "removed 1, kept 2" in gone.stdout
    # --prune: the index becomes exactly the paths given.
    pruned = run("ragchips", "index", str(tmp_path / "roquefort.txt"), "--out", idx, "--prune")
    assert pruned.returncode == 0 and "indexed 1 documents" in pruned.stdout, pruned.stderr


def test_index_command_with_nothing_readable(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    out = run("ragchips", "index", str(tmp_path), "--out", str(tmp_path / "idx"))
    assert out.returncode != 0 and "no readable text" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_index_command_missing_path(tmp_path: Path) -> None:
    out = run("ragchips", "index", str(tmp_path / "nope"), "--out", str(tmp_path / "idx"))
    assert out.returncode != 0 and "no such file" in out.stderr


def test_index_out_under_a_file_says_so_in_words(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Le chat dort sur le tapis du salon.\n")
    (tmp_path / "file").write_text("x")
    out = run(
        "ragchips",
        "index",
        str(tmp_path / "a.txt"),
        "--out",
        str(tmp_path / "file" / "idx"),
        "--embedder",
        "hash-64",
    )
    assert out.returncode == 1
    assert "not a folder" in out.stderr and "Errno" not in out.stderr
    assert out.stderr.count("\n") == 1


def _tree(folder: Path) -> dict[str, str]:
    """Every file under folder (relative path) with its sha256."""
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("full", [False, True])
def test_index_never_writes_into_another_programs_folder(tmp_path: Path, full: bool) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "puce.txt").write_text("La puce M4 est fabriquée par TSMC.", encoding="utf-8")
    other = tmp_path / "app"  # a web app: its own manifest.json, folders an index also names
    for name, text in [
        ("manifest.json", '{"name": "mon app", "start_url": "/"}'),
        ("index.html", "<html></html>"),
        ("g-photos/p.jpg", "jpeg"),
        ("state-of-the-art/r.txt", "notes"),
        ("seg-audio/a.wav", "wav"),
    ]:
        (other / name).parent.mkdir(parents=True, exist_ok=True)
        (other / name).write_text(text, encoding="utf-8")
    before = _tree(other)
    for target in (other, other / "index.html"):
        out = run("ragchips", "index", str(docs), "--out", str(target), *(["--full"] * full))
        assert out.returncode == 2, out.stdout
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert out.stderr.startswith("ragchips: error: ") and str(target) in out.stderr
        assert _tree(other) == before
    (other / "manifest.json").unlink()  # no manifest at all: still not an index's folder
    before = _tree(other)
    out = run("ragchips", "index", str(docs), "--out", str(other), *(["--full"] * full))
    assert out.returncode == 2 and "not a ragchips index" in out.stderr, out.stderr
    assert _tree(other) == before


def test_ask_with_llm_streams_the_model_text_then_sources(seeds_index_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from openai_stub import OpenAIStub, sse

    with OpenAIStub() as stub:
        stub.enqueue(sse(["La puce ", "sera fabriquée ", "par TSMC [1] [9]."]))
        out = run(
            "ask",
            "qui fabrique la puce ?",
            "--llm",
            "stub-model",
            "--index",
            str(seeds_index_path),
            env=stub.env(),
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("La puce sera fabriquée par TSMC [1] [9].")
        assert "Sources :" in out.stdout
        # the invalid marker [9] is reported once the answer is complete
        assert "avertissement" in out.stdout and "9" in out.stdout.split("Sources :")[1]
        assert stub.last.json["model"] == "stub-model" and stub.last.json["stream"] is True


def test_ask_with_unreachable_llm_fails_cleanly(seeds_index_path: Path) -> None:
    out = run(
        "ask",
        "qui fabrique la puce ?",
        "--llm",
        "m",
        "--json",
        "--index",
        str(seeds_index_path),
        env={
            "RAGCHIPS_LLM_BASE_URL": "http://127.0.0.1:9/v1",
            "RAGCHIPS_LLM_TIMEOUT": "2",
            "RAGCHIPS_LLM_MAX_RETRIES": "0",
        },
    )
    assert out.returncode == 1
    assert "LLM server http://127.0.0.1:9/v1" in out.stderr and "Traceback" not in out.stderr


def test_calibrate_stores_a_threshold(index_copy: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps({"question": q, "doc_id": "x"})
            for q in (
                "Qui fabriquera la puce d'OpenAI ?",
                "Quel est le projet Tigris ?",
                "Combien de GPU NVIDIA utilise le supercalculateur ?",
            )
        ),
        encoding="utf-8",
    )
    before = json.loads((index_copy / "manifest.json").read_text())["calibration"]
    out = run(
        "ragchips", "calibrate", str(questions), "--index", str(index_copy), "--min-recall", "1.0"
    )
    assert out.returncode == 0, out.stderr
    assert "3 answerable questions found" in out.stdout and "100.0%" in out.stdout
    after = json.loads((index_copy / "manifest.json").read_text())["calibration"]
    assert after != before and after["method"] == "dense+lang"
    from ragchips import Index

    assert Index.load(index_copy).calibration.threshold == after["threshold"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chunk-size", "10"], "--chunk-size must be >= 50, not 10"),
        (["--chunk-size", "100", "--chunk-overlap", "200"], "overlap"),
    ],
)
def test_index_bad_settings(tmp_path: Path, args: list[str], message: str) -> None:
    out = run("ragchips", "index", "seeds", "--out", str(tmp_path / "i"), *args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_calibrate_bad_recall_and_unreadable_file(tmp_path: Path) -> None:
    out = run("ragchips", "calibrate", "tests/data/seeds_gold.jsonl", "--min-recall", "0")
    assert out.returncode == 2 and "--min-recall" in out.stderr
    (tmp_path / "q.jsonl").write_bytes(b"\xff\xfe\x00garbage")
    out = run("ragchips", "eval", str(tmp_path / "q.jsonl"))
    assert out.returncode != 0 and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"question": "Qui ?", "answers": [1, 2]}', ":1: 'answers' must be a list of strings"),
        (b'{"question": "Qui ?", "answers": "Tigris"}', ":1: 'answers' must be a list of strings"),
        (b'{"question": "Qui ?", "doc_id": 5}', ":1: 'doc_id' must be a string"),
        (b'{"question": "Qui ?", "doc_id": "a", "phrase": 5}', ":1: 'phrase' must be a string"),
        (b'{"question": "Qui ?", "doc_id": "a"}\n\xff\xfe oui', ":2: not UTF-8 text"),
        (
            b'{"question": "Qui ?", "doc_id": "a"}\n{"question": "' + b"mot " * 600 + b'", '
            b'"doc_id": "a"}',
            ":2: the question is 2399 characters long; the limit is 2000",
        ),
    ],
)
def test_eval_bad_question_lines_are_one_line_naming_the_line(
    seeds_index_path: Path, tmp_path: Path, line: bytes, message: str
) -> None:
    (tmp_path / "q.jsonl").write_bytes(line + b"\n")
    out = run("ragchips", "eval", str(tmp_path / "q.jsonl"), "--index", str(seeds_index_path))
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith(f"ragchips: error: {tmp_path / 'q.jsonl'}{message}")
    assert len(out.stderr.splitlines()) == 1, out.stderr


def test_calibrate_with_an_empty_off_topic_file_is_one_line(
    index_copy: Path, tmp_path: Path
) -> None:
    (tmp_path / "off.jsonl").write_text("\n", encoding="utf-8")
    before = (index_copy / "manifest.json").read_bytes()
    out = run(
        "ragchips",
        "calibrate",
        "tests/data/seeds_gold.jsonl",
        "--index",
        str(index_copy),
        "--off-topic",
        str(tmp_path / "off.jsonl"),
    )
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == f"ragchips: error: {tmp_path / 'off.jsonl'}: no questions\n", out.stderr
    assert (index_copy / "manifest.json").read_bytes() == before


def test_a_locked_index_tells_compact_what_it_can_do(index_copy: Path) -> None:
    # compact and calibrate wait 10 s for another writer and have no --wait option: the
    # message told them to 'pass --wait SECONDS' (then: unrecognized arguments: --wait).
    import fcntl

    fd = os.open(index_copy / "writer.lock", os.O_RDWR | os.O_CREAT)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, b"pid 1 since 12:00:00")
        fcntl.flock(fd, fcntl.LOCK_EX)
        out = run("ragchips", "compact", str(index_copy))
    finally:
        os.close(fd)
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "another writer (pid 1 since 12:00:00)" in out.stderr
    assert "--wait" not in out.stderr and "try again" in out.stderr


def test_calibrate_auto_needs_no_questions(index_copy: Path) -> None:
    out = run("ragchips", "calibrate", "--auto", "--index", str(index_copy))
    assert out.returncode == 0, out.stderr
    assert "without labelled questions" in out.stdout
    after = json.loads((index_copy / "manifest.json").read_text())["calibration"]
    assert after["source"] == "auto" and 0.5 < after["threshold"] < 1.0
    out = run("ragchips", "calibrate", "--index", str(index_copy))
    assert out.returncode == 2 and "--auto" in out.stderr and "Traceback" not in out.stderr


def test_eval_reports_passage_and_document_ranks(seeds_index_path: Path, tmp_path: Path) -> None:
    out = run("ragchips", "eval", "tests/data/seeds_gold.jsonl", "--index", str(seeds_index_path))
    assert out.returncode == 0, out.stderr
    # The seeds gold set names each answer's phrase: a hit must hold it, so no merging.
    assert "that holds the question's phrase" in out.stdout and "passage-level ranks" in out.stdout
    assert "document-level ranks" not in out.stdout
    assert "first sentence contains gold" in out.stdout and "marked answer phrase" in out.stdout
    lines = Path("tests/data/seeds_gold.jsonl").read_text(encoding="utf-8").splitlines()
    no_phrase = [{k: v for k, v in json.loads(x).items() if k != "phrase"} for x in lines if x]
    plain = tmp_path / "plain.jsonl"
    plain.write_text("\n".join(json.dumps(q) for q in no_phrase[:5]), encoding="utf-8")
    out = run("ragchips", "eval", str(plain), "--index", str(seeds_index_path))
    assert out.returncode == 0, out.stderr
    assert "document-level ranks" in out.stdout


def test_ask_json_has_claims_and_confidence(seeds_index_path: Path) -> None:
    out = run(
        "ask", "Quel est le nom de code du projet ?", "--json", "--index", str(seeds_index_path)
    )
    d = json.loads(out.stdout)
    assert d["claims"] and 0.5 <= d["confidence"] <= 1
    assert all(c["passage"] in {p["rank"] for p in d["passages"]} for c in d["claims"])


@pytest.fixture()
def hostile_index(tmp_path: Path) -> Path:
    """A document whose doc_id and title hold terminal escape sequences."""
    corpus = tmp_path / "c.jsonl"
    record = {
        "doc_id": "g\x1b[31mx",
        "title": "Gym \x1b[5mBLINK\x07",
        "text": "Le gymnase ouvre à 8 h.",
    }
    corpus.write_text(json.dumps(record) + "\n", encoding="utf-8")
    out = tmp_path / "i"
    done = run("ragchips", "index", str(corpus), "--out", str(out), "--embedder", "hash-16")
    assert done.returncode == 0, done.stderr
    return out


def test_control_characters_are_shown_not_sent_to_the_terminal(hostile_index: Path) -> None:
    listing = run("ragchips", "ls", str(hostile_index))
    answer = run("ask", "Quand ouvre le gymnase ?", "--index", str(hostile_index))
    missing = run("ragchips", "show", str(hostile_index), "nope")
    for out in (listing.stdout, answer.stdout, missing.stderr):
        assert "\x1b" not in out and "\x07" not in out
    assert "g\\x1b[31mx\tjsonl" in listing.stdout and "Gym \\x1b[5mBLINK\\x07" in answer.stdout
    assert "(documents: g\\x1b[31mx)" in missing.stderr
    as_json = run("ask", "Quand ouvre le gymnase ?", "--index", str(hostile_index), "--json")
    assert json.loads(as_json.stdout)["passages"][0]["title"] == "Gym \x1b[5mBLINK\x07"


def test_output_the_terminal_cannot_encode_or_a_closed_stdout(hostile_index: Path) -> None:
    ascii_out = run(
        "ask", "Quand ouvre le gymnase ?", "--index", str(hostile_index),
        env={"PYTHONIOENCODING": "ascii"},
    )  # fmt: skip
    assert ascii_out.returncode == 0 and "Traceback" not in ascii_out.stderr
    assert "ouvre \\xe0 8 h" in ascii_out.stdout
    exe = shutil.which("ask", path=str(BIN))
    closed = subprocess.run(
        f"'{exe}' 'Quand ouvre le gymnase ?' --index '{hostile_index}' >&-",
        shell=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert closed.returncode == 0 and "Traceback" not in closed.stderr


def test_a_question_typed_under_a_locale_that_is_not_utf8(hostile_index: Path) -> None:
    done = run(
        "ask", "Quand ouvre le gymnase à Hélios ?", "--index", str(hostile_index), "--json",
        env={"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["question"] == "Quand ouvre le gymnase à Hélios ?"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["index", "", "--out", "x"], "an empty path among the documents (an unset variable?)"),
        (["index", "seeds", "--out", ""], "the index folder is an empty path (an unset variable?)"),
        (["ask", "--questions", "q.jsonl"], "--questions needs --out FILE"),
        (["ask", "--out", "a.jsonl"], "--out needs --questions FILE"),
        (["ask", "x", "--questions", "q", "--out", "a"], "batch mode takes no question"),
    ],
)
def test_empty_paths_and_half_batch_options_are_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = subprocess.run(
        [str(BIN / "ragchips"), *args], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 2 and message in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, the folder not indexed


def test_eval_warns_of_a_gold_doc_id_the_index_does_not_hold(
    hostile_index: Path, tmp_path: Path
) -> None:
    gold = tmp_path / "gold.jsonl"
    rows = [
        {"question": "Quand ouvre le gymnase ?", "doc_id": "g\x1b[31mx"},
        {"question": "Quand ouvre la piscine ?", "doc_id": "piscine"},  # a typo, say
    ]
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    done = run("ragchips", "eval", str(gold), "--index", str(hostile_index))
    assert done.returncode == 0, done.stderr
    assert "warning: 1 question name a doc_id the index does not hold (first: 'piscine')" in (
        done.stderr
    )
    bad_size = run(
        "ragchips", "index", str(gold), "--out", str(tmp_path / "x"), "--chunk-size", "5"
    )
    assert bad_size.returncode == 2 and "--chunk-size must be >= 50, not 5" in bad_size.stderr


def test_the_stream_guard_restores_an_in_process_caller_s_streams(
    hostile_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ragchips.cli import _terminal_streams, main

    before = sys.stdout, sys.stdout.errors
    assert main(["ls", str(hostile_index)]) == 0
    assert (sys.stdout, sys.stdout.errors) == before
    assert "g\\x1b[31mx" in capsys.readouterr().out
    with _terminal_streams(wrap=False):  # serve and mcp: uvicorn's colours, MCP's protocol
        assert sys.stdout is before[0]
    with _terminal_streams():
        print("page 1\fpage 2\x1b")  # a PDF's page break passes, ESC does not
    assert capsys.readouterr().out == "page 1\fpage 2\\x1b\n"
