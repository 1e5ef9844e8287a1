from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragchips import Answer, Passage
from ragchips.errors import RagchipsError
from ragchips.evaluation import evaluate, load_questions, normalise


def test_normalise() -> None:
    assert normalise("  L’Été  À PARIS ") == "l'ete a paris"


def test_load_questions_names_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "a", "doc_id": "d"}\n{oops\n', encoding="utf-8")
    with pytest.raises(RagchipsError, match=r"q.jsonl:2"):
        load_questions(path)
    path.write_text('{"question": "a"}\n', encoding="utf-8")
    with pytest.raises(RagchipsError, match="needs 'doc_id', 'answers' or 'phrase'"):
        load_questions(path)
    path.write_text('{"question": "a", "phrase": "TSMC"}\n', encoding="utf-8")
    assert load_questions(path)[0]["phrase"] == "TSMC"  # judged by the phrase alone


def fake_passages(doc_ids: list[str]) -> list[Passage]:
    return [
        Passage(
            rank=i + 1, score=0, text=f"texte {d}", doc_id=d, source="s", title="t", start=0, end=1
        )
        for i, d in enumerate(doc_ids)
    ]


def test_metrics_on_a_known_ranking() -> None:
    qs = [
        {"question": "q1", "doc_id": "a", "answers": ["texte b"]},
        {"question": "q2", "doc_id": "c"},
    ]
    rankings = {"q1": ["b", "b", "a"], "q2": ["x", "y"]}

    def answer(q: str, k: int) -> Answer:
        ps = fake_passages(rankings[q])
        return Answer(question=q, answer=ps[0].text, found=True, passages=ps)

    r = evaluate(qs, answer, "hybrid")
    # q1: documents b, a -> first relevant at rank 2 (repeats count once); q2: missed
    assert r.recall_at_1 == 0 and r.recall_at_5 == 0.5
    assert r.mrr_at_10 == pytest.approx(0.25)
    assert r.answer_containment == 1.0
    assert json.loads(json.dumps(r.to_dict()))["questions"] == 2
    # passage level: q1's gold document first appears third among all returned passages
    assert r.passage_recall_at_1 == 0 and r.passage_recall_at_5 == 0.5
    assert r.passage_mrr_at_10 == pytest.approx(1 / 6)


def test_a_phrase_without_a_doc_id_is_judged_by_the_phrase_alone() -> None:
    """The same questions on a collection split into other files (a book as HTML chapters,
    as one PDF): no gold document, the passage holding the phrase counts."""
    qs = [{"question": "q", "answers": ["texte c"], "phrase": "texte c"}]

    def answer(q: str, k: int) -> Answer:
        ps = fake_passages(["a", "c", "c"])
        return Answer(question=q, answer=ps[1].text, found=True, passages=ps)

    r = evaluate(qs, answer, "hybrid")
    assert r.recall_at_1 == 0 and r.recall_at_5 == 1 and r.mrr_at_10 == pytest.approx(0.5)
    assert r.passage_mrr_at_10 == pytest.approx(0.5) and r.answer_containment == 1


def test_first_sentence_containment() -> None:
    from ragchips.evaluation import first_sentence

    qs = [{"question": "q", "answers": ["deux"]}]

    def answer(q: str, k: int) -> Answer:
        ps = fake_passages(["a"])
        return Answer(q, "Un. [1] Deux. [1]", True, ps)

    r = evaluate(qs, answer, "hybrid")
    assert r.answer_containment == 1.0 and r.first_sentence_containment == 0.0
    assert first_sentence(answer("q", 1)) == "Un. "


def test_phrase_accuracy_counts_typed_questions_whose_claim_holds_the_gold() -> None:
    from ragchips.results import Claim

    text = "Le pont fut dessiné par Gustave Eiffel en 1884."
    qs = [
        {"question": "Qui a dessiné le pont ?", "answers": ["Gustave Eiffel"]},
        {"question": "Quand le pont fut-il dessiné ?", "answers": ["1884"]},
        {"question": "Pourquoi ce pont ?", "answers": ["Eiffel"]},  # no kind: not counted
        {"question": "Qui a payé ?", "answers": ["la ville"]},  # no claim holds it
    ]
    marked = {"Qui a dessiné le pont ?": (24, 38), "Quand le pont fut-il dessiné ?": (24, 38)}

    def answer(q: str, k: int) -> Answer:
        a, b = marked.get(q, (None, None))
        claim = Claim(text, 1, "d", 0, len(text), text[a:b] if a is not None else None, a, b)
        return Answer(q, text + " [1]", True, fake_passages([text]), claims=[claim])

    r = evaluate(qs, answer, "hybrid")
    assert r.phrase_questions == 2 and r.phrase_accuracy == 0.5
