"""ask() as a notebook user calls it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ragchips import Answer, Index, InvalidQuestionError, ask, open_index
from ragchips.answer import NOT_FOUND_MESSAGE


def test_ask_returns_cited_passages(seeds_index_path: Path) -> None:
    a = ask("Quel fonds d'Abu Dhabi discute avec Sam Altman ?", k=3, index=seeds_index_path)
    assert isinstance(a, Answer)
    assert a.found
    assert [p.rank for p in a.passages] == [1, 2, 3]
    assert "[1]" in a.answer or "[2]" in a.answer or "[3]" in a.answer
    for p in a.passages:
        assert Path(p.source).read_text(encoding="utf-8")[p.start : p.end] == p.text


def test_answer_sentences_are_copied_from_the_cited_passage(seeds_index_path: Path) -> None:
    import re

    a = ask("Quel supercalculateur utilise OpenAI depuis 2020 ?", index=seeds_index_path)
    parts = re.findall(r"(.+?) \[(\d+)\](?: |$)", a.answer)
    assert parts
    for sentence, n in parts:
        cited = a.passages[int(n) - 1]
        assert " ".join(sentence.split()) in " ".join(cited.text.split())


def test_to_dict_is_json_and_complete(seeds_index_path: Path) -> None:
    a = ask("qui fabrique la puce ?", index=seeds_index_path)
    d = json.loads(json.dumps(a.to_dict(), ensure_ascii=False))
    assert d["question"] == "qui fabrique la puce ?"
    assert set(d["passages"][0]) >= {
        "rank",
        "score",
        "text",
        "doc_id",
        "source",
        "title",
        "start",
        "end",
    }


def test_off_topic_question_is_not_found(seeds_index_path: Path) -> None:
    a = ask("Quelle est la recette de la blanquette de veau ?", index=seeds_index_path)
    assert not a.found
    assert a.answer == NOT_FOUND_MESSAGE


def test_index_object_and_path_are_both_accepted(seeds_index_path: Path) -> None:
    idx = Index.load(seeds_index_path)
    a1 = ask("Tigris", index=idx)
    a2 = ask("Tigris", index=str(seeds_index_path))
    assert [p.passage_id for p in a1.passages] == [p.passage_id for p in a2.passages]
    assert open_index(seeds_index_path) is open_index(seeds_index_path)  # cached


def test_bad_questions(seeds_index_path: Path) -> None:
    with pytest.raises(InvalidQuestionError):
        ask("  ", index=seeds_index_path)
    with pytest.raises(InvalidQuestionError):
        ask("puce", k=0, index=seeds_index_path)
    with pytest.raises(InvalidQuestionError):
        ask(None, index=seeds_index_path)  # type: ignore[arg-type]


def test_query_path_does_not_import_torch(seeds_index_path: Path) -> None:
    code = (
        "import sys; from ragchips import ask; "
        f"a = ask('qui fabrique la puce ?', index={str(seeds_index_path)!r}); "
        "assert a.passages; "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_default_index_is_the_bundled_one() -> None:
    idx = open_index()
    assert {Path(d.source).parent.name for d in idx.documents} == {"seeds"}
