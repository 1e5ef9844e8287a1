from __future__ import annotations

import pytest

from ragchips.answertype import answer_type, has_candidate


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Quand la production commencera-t-elle ?", "date"),
        ("En quelle année OpenAI a-t-il été créé ?", "date"),
        ("Combien de GPU utilise le supercalculateur ?", "number"),
        ("Quel est le montant visé ?", "number"),
        ("Comment s’appelle la puce de Microsoft ?", "name"),
        ("Qui fabrique la puce ?", "person-or-organisation"),
        ("Avec qui OpenAI travaille-t-il ?", "person-or-organisation"),
        ("Où est basé G42 ?", "place"),
        ("When will production start?", "date"),
        ("Pourquoi OpenAI veut-il ses propres puces ?", None),
    ],
)
def test_question_kinds(question: str, kind: str | None) -> None:
    found = answer_type(question)
    assert (found.name if found else None) == kind


def test_candidates_must_be_new_to_the_question() -> None:
    date = answer_type("Quand Altman a-t-il rencontré des investisseurs ?")
    assert date is not None
    assert has_candidate(
        date, "Quand Altman a-t-il rencontré des investisseurs ?", "Il les a rencontrés en octobre."
    )
    assert not has_candidate(date, "Que s'est-il passé en 2026 ?", "La production en 2026.")
    who = answer_type("Qui fabrique la puce ?")
    assert who is not None
    assert has_candidate(who, "Qui fabrique la puce ?", "Elle sera fabriquée par TSMC.")
    assert not has_candidate(who, "Qui fabrique la puce ?", "Elle sera fabriquée ailleurs.")
    name = answer_type("Comment s'appelle la puce de Microsoft ?")
    assert name is not None
    assert has_candidate(name, "Comment s'appelle la puce ?", "le « Maia 100 » de Microsoft")


def test_a_question_about_a_name_asks_who_they_are_not_for_a_name() -> None:
    from ragchips.answertype import asked_about_name

    assert asked_about_name("Qui est Gina Raimondo ?") == "Gina Raimondo"
    assert asked_about_name("qui était Napoléon III?") == "Napoléon III"
    assert asked_about_name("Who is Jony Ive?") == "Jony Ive"
    assert answer_type("Qui est Gina Raimondo ?") is None
    for question in ("Qui est le PDG d'OpenAI ?", "Qui fabrique la puce ?", "Qui est-ce ?"):
        assert asked_about_name(question) is None, question
        assert answer_type(question) is not None, question


@pytest.mark.parametrize(
    "question",
    [
        "Quelle est l'altitude du puy de Dôme ?",
        "Quelle est l’altitude du puy de Dôme ?",
        "Quelle est la hauteur de la tour ?",
        "Quel était le salaire final de Leavitt ?",
        "Quel est le chiffre d'affaires de Lumetra ?",
        # any tense of "être"
        "Quelle sera la hauteur de la scène ?",
        "Quel a été le taux de chômage en 2020 ?",
        "Quel sera le prix du billet ?",
        "Quelle serait la durée du chantier ?",
        "Quels seront les montants versés ?",
        "Quelle avait été la population de la ville ?",
        # a time of day
        "À quelle heure ouvre la séance ?",
        "A quelle heure part le train ?",
        "At what time does it open?",
    ],
)
def test_a_measure_or_a_time_asks_for_a_number(question: str) -> None:
    kind = answer_type(question)
    assert kind is not None and kind.name == "number"


def test_english_measures_keep_no_kind() -> None:
    # "How long must the offer be valid?" is answered by "at least three years": no digit
    # (measured: English answer kinds lost one answer on the licences).
    assert answer_type("How long must a written offer be valid?") is None


@pytest.mark.parametrize(
    "question",
    [
        "Avant quelle date faut-il faire l'inscription ?",
        "Jusqu'à quelle date peut-on s'inscrire ?",
        "Jusqu’à quelle date peut-on s'inscrire ?",
        "À partir de quelle date le pont est-il ouvert ?",
        "Depuis quelle année le pont est-il ouvert ?",
        "De quelle année date le pont ?",
        "En quelle année le pont a-t-il ouvert ?",
        "Le pont a été construit en quelle année ?",
        "Dès quel mois la piscine ouvre-t-elle ?",
        "Until what date can we register?",
        "In which year did the bridge open?",
        "Since what year has the bridge been open?",
    ],
)
def test_a_date_question_is_known_by_its_words_anywhere(question: str) -> None:
    kind = answer_type(question)
    assert kind is not None and kind.name == "date"
