"""The answer phrase inside an answer sentence: the name, date or number that answers.

A sentence that answers "qui supervise G42 ?" often holds several names ("Le Financial Times
affirme qu'Altman ... le cheikh Tahnoon bin Zayed al-Nahyan, qui supervise le G42"). The
phrase marked is the candidate of the asked-for kind that sits closest to the words of the
question the sentence repeats (the proximity rule of factoid QA: the sum of 1 / distance
in words over those question words), not the first one. On top of that, per kind:
- a name is a run of capitalised words that the question does not already hold, without a
  leading function word ("Le Financial Times" -> "Financial Times"); a single capitalised
  word that opens the sentence is no name unless it is an acronym ("TSMC");
- "en quelle année" wants a year, not "16 mai";
- "combien de personnes" prefers the number followed by "personnes"; a year is no count
  ("En 1947, le groupe compte une dizaine de militants");
  numbers written in words count ("deux épreuves", "une dizaine");
- a place is a name after a preposition ("dans le sud-est de la Pennsylvanie").
Measured on PIAF (half A tuned, half B confirms) by ``tests/bench/bench_answers.py``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable

from .analysis import FRENCH_STOP_WORDS
from .answertype import MONTHS, YEAR, AnswerType, question_words

__all__ = ["answer_phrase"]

_CAP = r"[A-ZÀ-Ý][\w&.’'-]*"
_LINK = r"(?:de |du |des |d'|d’|von |van |bin |ben |ibn |al-|el-|da |di |del |della |y )"
# "Taiwan Semiconductor Manufacturing Co., Ltd. (TSMC)": a company's suffix and acronym.
_SUFFIX = r"(?:,?\s+(?:Ltd|Inc|Corp|Co|LLC|plc|SA|SAS|SARL|GmbH|AG)\b\.?)*(?:\s*\([A-Z0-9&]{2,}\))?"
_NAME = re.compile(rf"{_CAP}(?:\s+{_LINK}?{_CAP}|-{_CAP}|\s+{_LINK}[a-z]+-{_CAP})*{_SUFFIX}")
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}(?:er)?\s+)?(?:{MONTHS})(?:\s+{YEAR})?\b"
    # a year ("1884", "en 732", "vers -500"), not the "000" of "7 000" nor a port "8080"
    rf"|(?<!\d[ \u00a0\u202f])\b{YEAR}\b(?![ \u00a0\u202f]\d{{3}})"
    r"|(?:(?<=\ben )|(?<=\ban )|(?<=\bvers ))-?[1-9]\d{2,3}\b|(?<!\w)-[1-9]\d{2,3}\b"
    r"|\b[XVI]+e\s+siècle\b",
    re.I,
)
# A range of dates is one answer ("du 4 au 22 mars 2024", "from April 4 to April 22, 2024",
# "de mars à juin"), as "8 à 10 mètres" is one number; its opening word belongs to it.
_WEEKDAY = (
    r"lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
)
_DAYNUM = r"(?:[12]\d|3[01]|0?[1-9])(?:er|st|nd|rd|th)?"
_MONTH_DAY = rf"(?:{_DAYNUM}\s+(?:of\s+)?(?:{MONTHS})|(?:{MONTHS}|may)\s+{_DAYNUM})\b"
_RANGE_END = rf"(?:(?:{_WEEKDAY}),?\s+)?(?:le\s+|the\s+)?{_MONTH_DAY}(?:,?\s+{YEAR}\b)?"
_DATE_RANGE = re.compile(
    rf"\b(?:du|from|entre|between)\s+(?:(?:{_WEEKDAY}),?\s+)?(?:le\s+|the\s+)?"
    rf"(?:{_MONTH_DAY}(?:,?\s+{YEAR}\b)?|{_DAYNUM}\b)"
    rf"\s+(?:au|à|jusqu'au|jusqu’au|et|to|until|till|through|and)\s+{_RANGE_END}"
    rf"|\b(?:de|d'|d’|from)\s*(?:{MONTHS})(?:\s+{YEAR})?\s+(?:à|au|to|until)\s+(?:{MONTHS})"
    rf"(?:\s+{YEAR})?\b",
    re.I,
)
_NUMWORD = (
    r"deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|"
    r"seize|dix-sept|dix-huit|dix-neuf|vingt|trente|quarante|cinquante|soixante|"
    r"soixante-dix|quatre-vingts?|quatre-vingt-dix|cents?|mille|millions?|milliards?|"
    r"dizaines?|douzaines?|quinzaine|vingtaine|trentaine|quarantaine|cinquantaine|"
    r"centaines?|milliers?|moitié|tiers|quarts?|deux-tiers|"
    r"two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundreds?|thousands?|millions?|billions?|dozens?"
)
_SCALE = (
    r"(?:\s+(?:millions?|milliards?|billions?|trillions?|mille|thousand)\b)?"
    r"(?:\s?(?:%|€|\$|£)|\s+(?:de\s+|d['’])?(?:dollars|euros|francs|livres|yens|yuans)\b)?"
)
_DIGITS = rf"-?\d+(?:[ \u00a0\u202f]\d{{3}})*(?:[.,]\d+)?{_SCALE}"
_WORDS = rf"(?:{_NUMWORD})(?:[-\s](?:et[-\s])?(?:{_NUMWORD}))*\b"
# "12", "1,14 milliard", "45 %", "une dizaine", "seize à vingt", "entre 3 et 5".
_NUMBER = re.compile(
    rf"(?<![\w.,])(?:entre\s+)?{_DIGITS}(?:\s+(?:à|et)\s+{_DIGITS})?"
    rf"|\b(?:(?:une|un|quelques|plusieurs)\s+)?{_WORDS}(?:\s+(?:à|et)\s+{_WORDS})?",
    re.I,
)
_PLACE = re.compile(
    rf"\b(?:à|en|au|aux|dans|de|du|sur|près de|vers|in|at|near)\s+(?:(?:le|la|les|l'|l’|the)\s*)?"
    rf"(?:[\w-]+\s+(?:de|du|des)\s+(?:(?:la|le|les|l'|l’)\s*)?)?({_CAP}(?:\s+{_LINK}?{_CAP})*)"
)
_QUOTED = re.compile(r"[«\"“]\s*([^»\"”]{2,60}?)\s*[»\"”]")
_TOKEN = re.compile(r"\w[\w'’-]*")
_GAP = re.compile(r"[\s'’]*")
_LINKED = re.compile(rf"\s+{_LINK}(?={_CAP})")  # "… de Ruth Finnegan": the link before a name
_KEEPS_DOT = re.compile(r"(?:\b(?:Co|Ltd|Inc|Corp|Jr|Sr|St|Dr|Mr|Mme|Cie)|\b[A-Z])\.$")
_ASKS_YEAR = re.compile(r"\b(année|an|years?|siècle|century)\b", re.I)
# "combien de personnes", "how many people": the noun the number counts.
_COUNTED = re.compile(r"\b(?:combien\s+(?:de|d'|d’)\s*|how\s+many\s+)(\w+)", re.I)
_PURE_YEAR = re.compile(rf"^{YEAR}$")
# "Quelle est la hauteur de … ?": a measure, which a text gives as a number and its unit
# ("245 mètres", "1 465 m", "12,30 euros" is _SCALE's); the unit is part of the answer.
_ASKS_MEASURE = re.compile(
    r"\b(?:hauteur|altitude|longueur|largeur|profondeur|superficie|surface|poids|masse|"
    r"vitesse|distance|température|capacité|diamètre|taille|durée|âge|portée)\b",
    re.I,
)
# Read on the text right after the number (a word boundary after it: "5 G" is no unit);
# one-letter units but "m" and "h" ("5 g", "30 s", "50 l") only when a measure is asked.
# English times are units too ("10 seconds", "3 hours").
_LETTER_UNIT = re.compile(r"[ \u00a0\u202f]?[gslt](?![\w/²])")
_UNIT = re.compile(
    r"[ \u00a0\u202f]?(?:km/h|m/s|°\s?C|°|m²|km²|m2|km2|mètres?|kilomètres?|centimètres?|"
    r"millimètres?|km|cm|mm|m|hectares?|ha|kilogrammes?|kg|grammes?|tonnes?|litres?|degrés?|"
    r"nœuds?|milles?|pieds?|ans|années?|mois|semaines?|jours?|heures?|h|minutes?|min|"
    r"secondes?|siècles?|seconds?|hours?|days?|weeks?|months?|years?)(?![\w/²])",
    re.I,
)
# What a "combien"/measure question asks for decides which number answers it: a price is
# an amount of money ("Combien coûte … ?": "20 €", not "400 litres"), a duration or a time
# of day a number with a time unit ("combien de temps … ?": "2 min 40", not "le 28").
_ASKS_MONEY = re.compile(
    r"\b(?:co[uû]t\w*|prix|tarifs?|loyers?|montant|payer|paie|vaut|valent|salaire|budget|"
    r"cost\w*|price|pay)\b",
    re.I,
)
_MONEY = re.compile(r"€|\$|£|\b(?:euros?|dollars?|francs?|livres|EUR|USD)\b", re.I)
_ASKS_TIME = re.compile(
    r"\bcombien\s+de\s+temps\b|\bdurée\b|\bdure\b|\bhow\s+long\b|[àa]\s+quelle\s+heure"
    r"|\bwhat\s+time\b",
    re.I,
)
_TIME_UNIT = re.compile(
    r"[ \u00a0\u202f]?(?:h|heures?|min|minutes?|s|secondes?|jours?|semaines?|mois|ans|"
    r"années?|seconds?|hours?|days?|weeks?|months?|years?)\b",
    re.I,
)
# A time of day after its hour ("9h41", "18h", "10 h 30", "18:30", "6 pm"): for a question
# about a time it is one phrase, and "41" or "30" is no number of its own.
_SP = r"[ \u00a0\u202f]?"
_AM_PM = rf"{_SP}(?:[ap]m|[ap]\.m\.)"
_CLOCK = re.compile(
    rf"(?:{_SP}h(?:{_SP}[0-5]\d)?|:[0-5]\d(?:{_AM_PM})?|{_AM_PM})(?![\w/²])",
    re.I,
)
_HOUR = re.compile(r"(?:[01]?\d|2[0-4])$")
# "de 9 à 18 h" is a range of hours, but in "quai 3 à 8h12" the minutes tell a time whose
# hour is the last number alone.
_CLOCK_MINUTES = re.compile(rf"(?:{_SP}h{_SP}|:)[0-5]\d(?!\w)", re.I)
_RANGE_LAST = re.compile(r"\s(?:à|et)\s+(\d+)$")
# A number that is part of a date or an address counts nothing: the day of "le 3 septembre",
# "le 5 de chaque mois", "1er juillet", "the 9th of April"; the postcode of "33800 Bordeaux".
_DAY_OF = re.compile(
    rf"(?:er|st|nd|rd|th)?[ \u00a0\u202f]+(?:of\s+)?(?:(?:{MONTHS})\b|de\s+chaque\s+mois|"
    r"du\s+mois)",
    re.I,
)
# English writes the day after its month ("April 9, 2024", "April 9th"); read on the text
# before a number of one or two digits. Only English months ("mars 12 personnes" is French
# order, a count), and "May" with its capital (the verb "may" is none).
_EN_MONTHS = "january|february|march|april|june|july|august|september|october|november|december"
# A month's name starts with its capital: "the recruits march 25 km" is no date.
_MONTH_BEFORE = re.compile(
    rf"\b(?:{'|'.join(m.capitalize() for m in _EN_MONTHS.split('|'))}|May)\.?[ \u00a0\u202f]+$"
)
_DAY = re.compile(r"(?:[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\b")
# A postcode follows a comma or opens its line, and its town ends the phrase ("12 rue Neuve,
# 33800 Bordeaux, …"); "15000 EUR", "12000 Français ont voté" are an amount and a count.
_POSTCODE = re.compile(
    r"(?:(?<=,\s)|(?<=^)|(?<=\n))\d{5}[ \u00a0\u202f]+[A-ZÀ-Ý][a-zà-ÿ'’-]+"
    r"(?:[ -][A-ZÀ-Ý][a-zà-ÿ'’-]+)*(?=\s*(?:[,.;)(]|$|Cedex|CEDEX))"
)
# "en 1934 à 66 ans": a year, then the number; no range from a year to a smaller number
# ("entre 1800 et 2500 habitants" stays a range).
_YEAR_THEN = re.compile(rf"(?:entre\s+)?({YEAR})\s+(?:à|et)\s+")
_LEADING = re.compile(r"\d+(?:[ \u00a0\u202f]\d{3})*")
_FUNCTION = FRENCH_STOP_WORDS | {"the", "a", "an", "in", "on", "of", "selon", "après", "avant"}


def _trim_name(text: str, a: int, b: int) -> tuple[int, int] | None:
    """Drop leading function words ("Le", "Selon") from a capitalised run; a word with its
    own stop is a title ("M. Paul Girard", like "Mme Claire Vautrin"), not "m'"."""
    while a < b:
        m = _TOKEN.match(text, a)
        if (
            m is None
            or m.group(0).lower().rstrip("'’") not in _FUNCTION
            or text.startswith(".", m.end())
        ):
            break
        a = _GAP.match(text, m.end()).end()  # type: ignore[union-attr]
    if a >= b or not text[a].isupper():
        return None
    return a, b


def _strip_dot(run: str) -> str:
    """A sentence's final stop is not part of a name ("à Gowran.", "par SAP."); an
    abbreviation ("Co.", "Ltd.") or an initial ("John F.") keeps its own."""
    if run.endswith(".") and not _KEEPS_DOT.search(run):
        return run[:-1]
    return run


def _names(text: str) -> Iterable[tuple[int, int]]:
    for m in _NAME.finditer(text):
        span = _trim_name(text, *m.span())
        if span is None:
            continue
        a, b = span
        run = _strip_dot(text[a:b])
        b = a + len(run)
        opens = not text[:a].strip(' «"“(')
        if (
            opens
            and " " not in run
            and not (sum(c.isupper() for c in run) > 1 or any(c.isdigit() for c in run))
        ):
            continue  # a capital that opens the sentence is no name, unless "TSMC"
        yield a, b
        # "Oral litterature in Africa de Ruth Finnegan": the name after a link on its own.
        for link in _LINKED.finditer(run):
            yield a + link.end(), b


def _candidates(kind: AnswerType, question: str, text: str) -> list[tuple[int, int, float, int]]:
    """(start, end, bonus, shown end) of every phrase of this kind in ``text``; a larger
    bonus wins over distance; the phrase shown may go on past ``end`` ("80 personnes")."""
    if kind.name == "person-or-organisation":
        return [(a, b, 0.0, b) for a, b in _names(text)]
    if kind.name == "date":
        year = bool(_ASKS_YEAR.search(question))
        # A question about the year wants one date, not the range it is part of.
        ranges = [] if year else [m.span() for m in _DATE_RANGE.finditer(text)]
        out = [(a, b, 0.0, b) for a, b in ranges]
        for m in _DATE.finditer(text):
            if year and not re.search(r"\d{3,4}|siècle", m.group(0)):
                continue
            if any(a <= m.start() and m.end() <= b for a, b in ranges):
                continue  # a date of a range: the range answers
            out.append((m.start(), m.end(), 0.0, m.end()))
        return out
    if kind.name == "number":
        counted = _COUNTED.search(question)
        noun = counted.group(1).lower()[:5] if counted else None
        measure = _ASKS_MEASURE.search(question) is not None
        money = _ASKS_MONEY.search(question) is not None
        timed = _ASKS_TIME.search(question) is not None
        out = []
        clock_end = 0
        for m in _NUMBER.finditer(text):
            start = m.start()
            if start < clock_end:
                continue  # the minutes of "10 h 30", "18:30"
            if text[start].isdigit() and (
                _DAY_OF.match(text, m.end())
                or _POSTCODE.match(text, start)
                or (
                    _DAY.match(text, start)
                    and _MONTH_BEFORE.search(text, max(0, start - 12), start)
                )
            ):
                continue  # a date's day or a postcode: no count, no amount
            lead = _YEAR_THEN.match(text, start)
            second = _LEADING.match(text, lead.end()) if lead is not None else None
            if (
                lead is not None
                and second is not None
                and int(re.sub(r"\D", "", second.group(0))) < int(lead.group(1))
            ):
                start = lead.end()  # "1934 à 66 ans": the number is 66, 1934 dates it
            year = bool(_PURE_YEAR.match(text[start : m.end()].strip()))
            bonus = 0.0
            end = shown = start + len(text[start : m.end()].rstrip())
            for w in list(_TOKEN.finditer(text, end, min(len(text), end + 40)))[:3]:
                word = re.sub(r"^(?:d|l)['’]", "", w.group(0).lower())
                if noun and word.startswith(noun):
                    bonus, shown = bonus + 6.0, w.end()  # "80 personnes", not "80"
                    break
            unit = _UNIT.match(text, end) or (_LETTER_UNIT.match(text, end) if measure else None)
            if shown == end and unit is not None and (measure or not year):
                shown = unit.end()  # "245 mètres": the unit belongs to the answer
                bonus += 3.0 if measure else 0.0
            if year and shown == end:
                continue  # "en 1947" dates the fact, it does not count anything
            if money and _MONEY.search(text[start:shown]):
                bonus += 3.0  # "20 €" for "combien coûte"
            last = _RANGE_LAST.search(text, start, end)
            if timed and last is not None and _CLOCK_MINUTES.match(text, end):
                start = last.start(1)  # "quai 3 à 8h12": the time is 8h12, 3 no hour of it
            clock = _CLOCK.match(text, end) if _HOUR.match(text, start, end) else None
            if timed and clock is not None and shown <= clock.end():
                bonus, shown = bonus + 3.0, clock.end()  # "9h41" for "à quelle heure"
                clock_end = shown
            elif timed and _TIME_UNIT.match(text, end):
                bonus += 3.0  # "2 min 40" for "combien de temps"
            out.append((start, end, bonus, shown))
        return out
    if kind.name == "place":
        out = []
        for m in _PLACE.finditer(text):
            end = m.start(1) + len(_strip_dot(m.group(1)))
            out.append((m.start(1), end, 0.0, end))
        return out
    quoted = [(m.start(1), m.end(1), 1.0, m.end(1)) for m in _QUOTED.finditer(text)]
    return quoted + [(a, b, 0.0, b) for a, b in _names(text)]


def answer_phrase(
    kind: AnswerType,
    question: str,
    asked: frozenset[str],
    sentence: str,
    is_question_word: Callable[[str], bool],
    agent: tuple[int, int] | None = None,
) -> tuple[int, int] | None:
    """Where in ``sentence`` the answer phrase of this kind is, or ``None``.

    ``asked`` are the question's own lower-case words (a phrase made only of them is not
    an answer); ``is_question_word`` tells whether a token of the sentence is one of the
    question's terms (the anchors); ``agent`` is the doer of a question verb, if the
    sentence has one ("fabriquée par TSMC"), preferred among names."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(sentence)]
    starts, ends = [t[0] for t in tokens], [t[1] for t in tokens]
    anchors = [i for i, (a, b) in enumerate(tokens) if is_question_word(sentence[a:b])]
    anchored = set(anchors)
    best: tuple[float, int, int] | None = None
    found = _candidates(kind, question, sentence)
    if agent is not None:
        trimmed = _trim_name(sentence, *agent)
        if trimmed is not None and trimmed in set(_names(sentence)):
            found.append((trimmed[0], trimmed[1], 2.0, trimmed[1]))
    for a, b, bonus, shown in found:
        if question_words(sentence[a:b]) <= asked:
            continue
        # The tokens the candidate covers: those ending after a and starting before b.
        inside = range(bisect_right(ends, a), bisect_left(starts, b))
        if not inside:
            continue
        if anchored.intersection(inside):
            continue  # it repeats the question's own term
        lo, hi = inside[0], inside[-1]
        near = sum(1.0 / max(lo - i, i - hi, 1) for i in anchors)
        key = (-near - bonus, a, shown)
        if best is None or key < best:
            best = key
    return None if best is None else (best[1], best[2])
