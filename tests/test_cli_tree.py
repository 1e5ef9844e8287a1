"""The one argparse tree: shortcut, parser-checked numbers, quiet broken pipes, batch, ls, show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run(cmd: str, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / cmd), *args], capture_output=True, text=True, timeout=300, **kw
    )


@pytest.mark.parametrize(
    ("cmd", "args", "message"),
    [
        ("ask", ["puce", "-k", "-3"], "k must be from 1 to 100, not -3"),
        ("ask", ["puce", "-k", "deux"], "k must be a whole number"),
        ("ragchips", ["ask", "puce", "-k", "101"], "k must be from 1 to 100, not 101"),
        ("ragchips", ["eval", "q.jsonl", "--k", "0"], "k must be from 1 to 100, not 0"),
        ("ragchips", ["calibrate", "q.jsonl", "--min-recall", "1.5"], "--min-recall must be"),
        ("ragchips", ["index", "x", "--out", "y", "--chunk-size", "-1"], "--chunk-size must be"),
        ("ragchips", ["nope"], "invalid choice"),
        ("ragchips", ["ls", "--bogus"], "unrecognized arguments: --bogus"),
        ("ask", ["puce", "--bogus"], "ask: error: unrecognized arguments: --bogus"),
        ("ragchips", ["eval", "q.jsonl", "-k", "0"], "k must be from 1 to 100, not 0"),
        ("ask", [], "give a question"),
        ("ask", ["puce", "--questions", "q.jsonl"], "batch mode takes no question"),
    ],
)
def test_parser_errors_are_one_line_status_2(cmd: str, args: list[str], message: str) -> None:
    out = run(cmd, *args)
    assert out.returncode == 2, out
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert out.stdout == ""


def test_ask_is_the_shortcut_of_ragchips_ask(seeds_index_path: Path) -> None:
    a = run("ask", "Tigris", "-k", "2", "--json", "--index", str(seeds_index_path))
    b = run("ragchips", "ask", "Tigris", "-k", "2", "--json", "--index", str(seeds_index_path))
    assert a.returncode == b.returncode == 0
    da, db = json.loads(a.stdout), json.loads(b.stdout)
    da.pop("timings"), db.pop("timings")
    assert da == db
    assert "usage: ask " in run("ask", "--help").stdout


def test_closed_pipe_ends_quietly_with_status_0(seeds_index_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: EPIPE for sure
    try:
        out = subprocess.run(
            [str(BIN / "ask"), "qui fabrique la puce ?", "--index", str(seeds_index_path)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    finally:
        os.close(write_end)
    assert out.returncode == 0 and out.stderr == ""
    shell = subprocess.run(
        [
            "bash",
            "-c",
            f'"{BIN}/ask" puce -k 20 --index "$0" | head -1; exit ${{PIPESTATUS[0]}}',
            str(seeds_index_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shell.returncode == 0 and shell.stderr == "" and len(shell.stdout.splitlines()) == 1


def test_batch_answers_every_question_and_resumes(seeds_index_path: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    lines = [
        {"id": "a", "question": "Qui fabriquera la puce d'OpenAI ?"},
        {"id": None, "question": "Quel est le projet Tigris ?"},  # null: the question
        {"id": "c", "question": "   "},
    ]
    questions.write_text("\n".join(json.dumps(q) for q in lines) + "\n", encoding="utf-8")
    out = tmp_path / "answers.jsonl"
    args = ["--questions", str(questions), "--out", str(out), "--index", str(seeds_index_path)]
    first = run("ask", *args, "-k", "2", "--progress")
    assert first.returncode == 0, first.stderr
    assert "answering" in first.stderr and "3/3" in first.stderr  # the progress bar
    assert "answered 2 questions (0 already answered, 1 errors)" in first.stdout
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["a", "Quel est le projet Tigris ?", "c"]
    from ragchips import ask

    expected = ask(lines[0]["question"], k=2, index=seeds_index_path).to_dict()
    got = dict(records[0])
    got.pop("id"), got.pop("timings"), expected.pop("timings")
    assert got == expected
    assert "empty" in records[2]["error"]

    # interrupted mid-write: a half line; resuming keeps the good lines, redoes the rest
    out.write_text(out.read_text(encoding="utf-8").splitlines()[0] + '\n{"id": "Quel', "utf-8")
    second = run("ragchips", "ask", *args, "-k", "2", "--no-progress")
    assert second.returncode == 0, second.stderr
    assert "answered 1 questions (1 already answered, 1 errors)" in second.stdout
    again = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in again] == ["a", "Quel est le projet Tigris ?", "c"]
    assert again[0] == records[0]  # not answered twice

    # everything answered except the error line, which is retried: its old line goes, so
    # the file keeps one line per question however many runs there are
    for _ in range(2):
        third = run("ask", *args)
        after = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert third.returncode == 0 and [r["id"] for r in after] == [r["id"] for r in again]
        assert "answered 0 questions (2 already answered, 1 errors)" in third.stdout


def test_batch_bad_question_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "q.jsonl").write_text('{"question": "a"}\nnot json\n', encoding="utf-8")
    out = run("ask", "--questions", str(tmp_path / "q.jsonl"), "--out", str(tmp_path / "o"))
    assert out.returncode == 1 and "q.jsonl:2: not valid JSON" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"ligne un\nmes notes, sans fin de ligne", "notes.txt:1: not an answer line"),
        (b'{"id": "1", "answer": "x"}\n# mes notes\n', "notes.txt:2: not an answer line"),
        (b'{"id": "1", "answer": "x"}\n\xff\xfe notes\n', "notes.txt:2: not UTF-8 text"),
        (None, "is the questions file"),
    ],
)
def test_batch_out_that_is_not_an_answers_file_is_left_alone(
    seeds_index_path: Path, tmp_path: Path, content: bytes | None, message: str
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "Quel est le projet Tigris ?"}\n', encoding="utf-8")
    out = questions if content is None else tmp_path / "notes.txt"
    if content is not None:
        out.write_bytes(content)
    before = out.read_bytes()
    args = ["--questions", str(questions), "--out", str(out), "--index", str(seeds_index_path)]
    done = run("ask", *args)
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith("ask: error: ") and message in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert out.read_bytes() == before


def test_batch_question_that_is_no_text_is_an_error_line(
    seeds_index_path: Path, tmp_path: Path
) -> None:
    # A lone surrogate ("\ud800", valid JSON) cannot be written as UTF-8: the error line
    # that echoes it crashed the batch with a UnicodeEncodeError traceback. The file is
    # also read with old Mac line ends (\r alone).
    questions = tmp_path / "q.jsonl"
    questions.write_bytes(
        b'{"id": "a", "question": "\\ud800 puce"}\r{"id": "b", "question": "Tigris ?"}\r'
    )
    out = tmp_path / "a.jsonl"
    args = ["--questions", str(questions), "--out", str(out), "--index", str(seeds_index_path)]
    done = run("ask", *args)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["a", "b"]
    assert "error" in records[0] and records[0]["question"] == "\ud800 puce"
    assert "error" not in records[1] and records[1]["answer"]
    again = run("ask", *args)  # resumed: nothing left but the error line, asked again
    assert again.returncode == 0, again.stderr


def test_ls_and_show(seeds_index_path: Path) -> None:
    from ragchips import Index

    index = Index.load(seeds_index_path)
    listing = run("ragchips", "ls", str(seeds_index_path))
    assert listing.returncode == 0, listing.stderr
    assert f"{len(index.doc_ids())} documents, {len(index)} passages" in listing.stdout
    assert "embedder e5-small (384 d)" in listing.stdout
    data = json.loads(run("ragchips", "ls", str(seeds_index_path), "--json").stdout)
    assert sum(d["passages"] for d in data["items"]) == len(index) == data["passages"]
    assert {d["format"] for d in data["items"]} == {"txt"} and data["bytes"] > 0

    doc_id = index.doc_ids()[1]
    shown = json.loads(run("ragchips", "show", str(seeds_index_path), doc_id, "--json").stdout)
    text = index.document(doc_id).text
    assert shown["text"] == text and shown["passages"]
    assert all(text[p["start"] : p["end"]] == p["text"] for p in shown["passages"])
    plain = run("ragchips", "show", str(seeds_index_path), doc_id)
    assert plain.returncode == 0 and f"[{shown['passages'][0]['start']}:" in plain.stdout
    missing = run("ragchips", "show", str(seeds_index_path), "nope")
    assert missing.returncode == 1 and "no document 'nope'" in missing.stderr


def test_ls_rows_stay_rows_whatever_the_file_names(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("new\nline.txt", "tab\there.txt", "plain.txt"):
        (docs / name).write_text("Le chat dort sur le tapis du salon.\n", encoding="utf-8")
    built = run("ragchips", "index", str(docs), "--out", str(tmp_path / "i"), "--embedder",
                "hash-16")  # fmt: skip
    assert built.returncode == 0, built.stderr
    rows = run("ragchips", "ls", str(tmp_path / "i")).stdout.splitlines()[2:]
    assert len(rows) == 3 and all(r.count("\t") == 5 for r in rows)
    assert any(r.startswith("new\\nline\t") for r in rows)
    assert any(r.startswith("tab\\there\t") for r in rows)


def test_cli_ask_path_imports_no_integration_or_format_library(seeds_index_path: Path) -> None:
    code = (
        "import sys, io, contextlib\n"
        "from ragchips.cli import ask_main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = ask_main(['qui fabrique la puce ?', '--index', {str(seeds_index_path)!r}])\n"
        "assert code == 0\n"
        "heavy = ('torch', 'sentence_transformers', 'pypdfium2', 'docx', 'odf', 'trafilatura',\n"
        "         'langchain_core', 'llama_index', 'mcp', 'tqdm', 'ragchips.readers.pdf')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_batch_resume_edits_the_answers_file_in_place(
    seeds_index_path: Path, tmp_path: Path
) -> None:
    # Removing a retried question's old error line rewrites the file where it is: a link
    # stays a link, the mode stays, and the error line of a question no longer asked stays.
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "c", "question": "   "}\n', encoding="utf-8")
    real = tmp_path / "real.jsonl"
    old = {"id": "gone", "question": "   ", "error": "question is empty"}
    real.write_text(json.dumps(old) + "\n", encoding="utf-8")
    real.chmod(0o600)
    link = tmp_path / "answers.jsonl"
    link.symlink_to(real)
    args = ["--questions", str(questions), "--out", str(link), "--index", str(seeds_index_path)]
    for _ in range(2):
        assert run("ask", *args).returncode == 0
    assert link.is_symlink() and (real.stat().st_mode & 0o777) == 0o600
    ids = [json.loads(line)["id"] for line in real.read_text(encoding="utf-8").splitlines()]
    assert ids == ["gone", "c"]


@pytest.mark.parametrize("out", ["/dev/stdout", "/dev/null", "-"])
def test_batch_refuses_an_out_that_is_no_file(
    seeds_index_path: Path, tmp_path: Path, out: str
) -> None:
    """--out is read first (a run resumes from it): a pipe or a terminal waited forever."""
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "question": "Quel est le projet Tigris ?"}\n', "utf-8")
    args = ["--questions", str(questions), "--out", out, "--index", str(seeds_index_path)]
    done = run("ask", *args, stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and done.stdout == ""
    assert (
        done.stderr.strip()
        == f"ask: error: {out}: --out must be a file (a run resumes from it), not a pipe"
    )


def test_batch_reads_questions_from_standard_input(seeds_index_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    args = ["--questions", "-", "--out", str(out), "--index", str(seeds_index_path)]
    done = run("ask", *args, input='{"id": "a", "question": "Quel est le projet Tigris ?"}\n')
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["id"] for line in out.read_text("utf-8").splitlines()] == ["a"]
    folder = run("ragchips", "eval", str(tmp_path), "--index", str(seeds_index_path))
    assert folder.returncode == 1 and "a folder, not a questions file" in folder.stderr
