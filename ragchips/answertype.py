"""What kind of answer a question expects, and whether a text holds one.

Classic factoid QA: "quand ..." wants a date, "combien ..." a number, "qui ..." a name,
"où ..." a place, "comment s'appelle ..." a proper name. A passage that talks about the
question's topic *and* holds a candidate of the expected kind (one the question does not
already contain) is more likely to answer it. Search gives such passages a small bonus
among its best candidates, and the extractive answer prefers such sentences. Questions of
no recognised kind ("pourquoi ...") get no bonus. French first, a few English forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["AnswerType", "answer_type", "candidate_span", "has_candidate", "question_words"]

MONTHS = (
    "janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|"
    "novembre|décembre|decembre|january|february|march|april|june|july|august|september|"
    "october|november|december"
)
# A year as texts write one: 1000 to 2099.
YEAR = r"(?:1[0-9]{3}|20[0-9]{2})"


@dataclass(frozen=True)
class AnswerType:
    """A kind of answer: how questions ask for it, how texts show it."""

    name: str
    question: re.Pattern[str]
    candidate: re.Pattern[str]


_TYPES = (
    AnswerType(
        "date",
        # "Quand …", "When …" open the question ("quand" inside one is a conjunction); the
        # other forms say what they ask wherever they stand ("Avant quelle date …", "Le pont
        # date de quelle année ?", "In which year …").
        re.compile(
            r"^\s*(quand|when)\b|\b(depuis quand|jusqu'?\s?[àa] quand|since when|until when|"
            r"quel(le)?s? (année|date|siècle|mois|époque|période)|"
            r"(what|which) (year|date|century|month))\b",
            re.I,
        ),
        re.compile(rf"\b({YEAR})\b|\b({MONTHS})\b", re.I),
    ),
    AnswerType(
        "number",
        # "Quelle est / sera / a été / serait la hauteur …": any tense of "être"; "Quels
        # sont les montants …": a plural.
        re.compile(
            r"\b(combien|quel(le)?s? (est|sont|était|étaient|fut|furent|sera|seront|serait|"
            r"seraient|(a|ont|avait|avaient|aura|auront|aurait|auraient) été) "
            r"(le |la |les |l')(nombre|"
            r"montant|prix|coût|taux|pourcentage|part|taille|durée|population|superficie|"
            r"hauteur|altitude|longueur|largeur|profondeur|surface|poids|masse|vitesse|distance|"
            r"température|capacité|budget|salaire|âge|score|rendement|chiffre d'affaires|"
            r"diamètre|densité|effectif)s?|quel(le)? (nombre|montant|prix|pourcentage|part)|"
            r"[àa] quelle heure|what time|how (many|much))\b",
            re.I,
        ),
        re.compile(r"\d"),
    ),
    AnswerType(
        "name",
        re.compile(
            r"\b(comment s'appel\w*|comment se nomm\w*|quel(le)? est (le|son|sa) nom|quel nom|"
            r"what is the name|called)\b",
            re.I,
        ),
        re.compile(r"[«\"“][^»\"”]{2,40}[»\"”]|\b[A-ZÀ-Ý][\w-]*\s?\d+\b"),
    ),
    AnswerType(
        "person-or-organisation",
        re.compile(r"^\s*(qui|avec qui|par qui|[àa] qui|de qui|who|which company)\b", re.I),
        # A capitalised word that does not start a sentence.
        re.compile(r"(?<![.!?]\s)(?<!^)\b[A-ZÀ-Ý][a-zA-Zà-ÿ]+"),
    ),
    AnswerType(
        "place",
        re.compile(r"^\s*(où|d'où|dans quel(le)? (pays|ville|région|lieu)|where)\b", re.I),
        re.compile(r"\b(à|en|au|aux|dans|de)\s+[A-ZÀ-Ý]"),
    ),
)
_WORD = re.compile(r"\w+")


# "Qui est Gina Raimondo ?", "Who was Jony Ive?": a question about a name, whose answer is
# what the text says of it (an apposition, a role), not another name.
_ABOUT_A_NAME = re.compile(
    r"^\s*(?i:qui\s+(?:est|était|etait|sont|étaient|fut)|who\s+(?:is|was|are|were))\s+"
    r"(?P<name>[A-ZÀ-Ý][\w'’.-]*"
    r"(?:\s+(?:de |du |des |d'|von |van |al |bin )?[A-ZÀ-Ý0-9][\w'’.-]*){0,4})"
    r"\s*\??\s*$"
)


def asked_about_name(question: str) -> str | None:
    """The name a "Qui est NAME ?" question asks about, else ``None``."""
    m = _ABOUT_A_NAME.match(question)
    return m.group("name") if m else None


def answer_type(question: str) -> AnswerType | None:
    """The kind of answer ``question`` asks for, if it is a recognised factoid question."""
    q = question.replace("’", "'")
    if asked_about_name(question):
        return None  # "Qui est Jony Ive ?" asks who he is, not for a name
    for kind in _TYPES:
        if kind.question.search(q):
            return kind
    return None


# A run of capitalised words ("Taiwan Semiconductor Manufacturing", "Jony Ive").
NAME_RUN = re.compile(r"[A-ZÀ-Ý][\w&.-]*(?:\s+(?:de |du |des |d'|von |van )?[A-ZÀ-Ý][\w&.-]*)*")


def question_words(question: str) -> frozenset[str]:
    """The question's own words (lower case): an answer is a phrase beyond them."""
    return frozenset(w.lower() for w in _WORD.findall(question))


def candidate_span(
    kind: AnswerType, question: str | frozenset[str], text: str
) -> tuple[int, int] | None:
    """Where ``text`` holds an answer of this kind that the question does not contain: the
    first such match ("2024", "Taiwan"); ``None`` if there is none. This only tells whether
    a text holds a candidate (search and sentence scores use it); which phrase answers, and
    its whole extent, is :func:`ragchips.phrase.answer_phrase`'s choice. ``question`` may be
    given as its :func:`question_words`, read once for many texts."""
    asked = question_words(question) if isinstance(question, str) else question
    for match in kind.candidate.finditer(text):
        words = {w.lower() for w in _WORD.findall(match.group(0))}
        if words <= asked:
            continue
        a, b = match.span()
        if kind.name == "person-or-organisation" and not text[:a].strip():
            continue  # the capital that starts a sentence is no name
        return a, b
    return None


def has_candidate(kind: AnswerType, question: str | frozenset[str], text: str) -> bool:
    """Whether ``text`` holds an answer of this kind that the question does not contain."""
    return candidate_span(kind, question, text) is not None
