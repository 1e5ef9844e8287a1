from __future__ import annotations

from ragchips import Passage
from ragchips.analysis import analyze
from ragchips.answer import extract_answer


def passage(rank: int, text: str) -> Passage:
    return Passage(
        rank=rank,
        score=1.0 / rank,
        text=text,
        doc_id=f"d{rank}",
        source="s",
        title="t",
        start=0,
        end=len(text),
    )


def test_best_sentence_is_the_one_with_the_question_words() -> None:
    ps = [
        passage(1, "OpenAI veut des puces. Elles seront fabriquées par TSMC à Taïwan."),
        passage(2, "Le marché est dominé par Nvidia."),
    ]
    answer = extract_answer(analyze("Qui fabriquera les puces à Taïwan ?"), ps)
    assert answer.startswith("Elles seront fabriquées par TSMC à Taïwan. [1]")


def test_markers_name_existing_passages_only() -> None:
    ps = [
        passage(1, "Premier passage assez long pour compter."),
        passage(2, "Deuxième passage qui parle de puces électroniques."),
    ]
    answer = extract_answer(analyze("puces électroniques"), ps)
    import re

    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer)} <= {1, 2}
    assert "[2]" in answer


def test_no_passage_no_answer() -> None:
    assert extract_answer(analyze("rien"), []) == ""
