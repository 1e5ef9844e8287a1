"""Sentences of French and English text, as exact spans, for answers and claims.

The chunker only needs rough cuts; an answer sentence must be whole. A period ends a
sentence only when the next word starts one (capital, digit, opening quote) and the word
before it is not an abbreviation (M., Mme, Dr, Co., Ltd., Inc., p. ex., av. J.-C., ...)
nor a lone initial ("J. K. Rowling"). Ellipses end a sentence the same way. A sentence
inside « guillemets » stays with the one that quotes it. Headings (Markdown ``#`` lines,
short lines without final punctuation standing alone, table of contents entries) and list
bullets are marked, so answers can skip headings and drop bullet marks; every span is
exact: ``text[s.start:s.end] == s.text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Sentence", "split_sentences"]

# Lower-cased, without the final period. French and English titles, company forms, Latin;
# then the German, Spanish and Italian ones a multilingual collection quotes most ("z. B.",
# "Nr. 7", "la Sra. Ortega", "il dott. Bianchi"), none of them a word of French or English.
_ABBREVIATIONS = """
    m mm mme mmes mlle mlles dr pr me mgr st ste sts stes mr mrs ms prof sr jr
    co corp ltd inc llc plc cie sa sarl gmbh bros
    etc cf ex p pp vol vols no nos n° art chap fig figs éd ed eds env hab av apr
    j.-c jc j.c al ca approx dept min max sq tél tel ibid op cit id viz vs e.g i.e
    janv févr fév avr juil sept oct nov déc jan feb mar apr jun jul aug sep dec
    bd boul av ave rte qqn qqch ss suiv th
    z u d v nr str bzw mio mrd abs usw vgl ggf evtl inkl exkl bspw geb gest hr hrn dipl
    sra sras srta sres dra dras dres núm pág págs avda ud uds lic cía
    sig sigg dott dott.ssa avv ecc
"""
ABBREVIATIONS = frozenset(_ABBREVIATIONS.split())
# Words after which a capital is part of the same sentence: "p. ex. Paris", "av. J.-C. Rome".
_NO_BREAK_AFTER = frozenset({"ex", "cf", "p", "pp", "av", "apr", "vs", "no", "n°", "art", "vol"})

# A unit after a number ("1,85 m.", "300 km.", "2 L.", "10 000 hab.") is no title: its
# period ends the sentence when a capital follows. Month and reference abbreviations
# ("3 sept. 2019", "753 av. J.-C.", "12 p. X") are not units.
_UNIT_BEFORE = re.compile(r"\d[ \u00a0\u202f]?(?:[a-zµ]{1,4}|L)$")
_MONTH_ABBREVIATIONS = "janv févr fév avr juil sept oct nov déc jan feb mar apr jun jul aug sep dec"
_NOT_UNITS = frozenset(_MONTH_ABBREVIATIONS.split())
# Company forms and "J.-C." often end a sentence; after them a capital that is one of these
# words (a pronoun, an article...) starts a new one: "IBM Corp. Il est ingénieur.",
# "vers 1450 av. J.-C. Il régna.", but "Co. Ltd.", "Inc. Apple" and "M. Le Pen" stay.
_ENDINGS = "co corp inc ltd llc plc cie sa sarl gmbh bros j.-c jc j.c a.m p.m"
_ENDING_ABBREVIATIONS = frozenset(_ENDINGS.split())
_STARTERS = """
    il elle ils elles on le la les l ce cet cette ces c son sa ses leur leurs un une des
    en au aux dans après avant puis mais selon pendant depuis cependant toutefois ainsi
    he she it they we the this these those its their in after but since however
"""
_STARTER_WORDS = frozenset(_STARTERS.split())
_NAME_PARTICLES = frozenset({"le", "la", "les", "de", "des", "du"})
# A German date's day: "1. Januar", "30. November" (a day, a period, a German month). The
# months English or French also write ("3. April was…", "2. Mai restera…") need a German
# word before the day ("am", "zum", "bis"…) or a year after the month.
_GERMAN_DAY = re.compile(r"(?:^|[^\d.,])(?:[1-9]|[12]\d|3[01])$")
_GERMAN_DAY_AFTER = re.compile(
    r"\b(?:am|zum|vom|bis|seit|ab|den|dem|Am|Zum|Vom|Bis|Seit|Ab)\s+(?:[1-9]|[12]\d|3[01])$"
)
_GERMAN_MONTH = re.compile(r"(?:Januar|Jänner|Februar|März|Juni|Juli|Oktober|Dezember)\b")
_SHARED_MONTH = re.compile(r"(?:April|Mai|August|September|November)\b(\s+\d{4}\b)?")
# German abbreviations of two letters and a space: "u. a.", "z. B.", "d. h.", "v. a.".
_TWO_PART = re.compile(r"(?:^|\s)[uzdvso]\.\s?[a-zäöüA-Z]$")
_NEXT_WORD = re.compile(r"[A-ZÀ-Þa-zß-ÿ]+")

# A closing quote or bracket, or Markdown emphasis ("**Note.** Le texte"), may follow the mark.
_END = re.compile(r"(\.{3}|…|[.!?]+)((?:[ \u00a0\u202f]?[»”])?[\"’')\]*]*)(\s+)")
_STARTER = re.compile(r"[«“\"'(\[]?\s*[A-ZÀ-ÖØ-Þ0-9¿¡]")
_WORD_BEFORE = re.compile(r"([\w°.-]+)$")
_BULLET = re.compile(r"^[ \t]*(?:[-*•–—·▪◦]|\d{1,3}[.)]|[a-z][.)])[ \t]+")
_HEADING_MD = re.compile(r"^[ \t]*#{1,6}[ \t]+")
_NUMBERED = re.compile(r"^[ \t]*\d{1,3}[.)][ \t]+")
# "Lieu : salle Condorcet", "Date : 4 mars": a label without a number (not "Article 3 :",
# "Chapitre 2 : Les outils") and a value. "Lieu :" alone announces what follows.
_FIELD = re.compile(r"^[ \t*_]*(?P<key>[A-ZÀ-Ý][a-zà-ÿ'’-]+) ?: +\S")
_MEASURE_FIELD = re.compile(r"^[ \t*_]*(?P<key>[A-ZÀ-Ý][^\d:\n]{0,50}?) ?: +[^\n]*\d")
# "La Grande Guerre : 1914-1918" is a title, a period after its colon.
_YEAR_RANGE = re.compile(r" ?: +\d{4} ?[-–] ?\d{2,4}\b")
# Words that name a part of a text: "Chapitre premier : …", "Titre II : …" are titles.
_PARTS = (
    "titre chapitre article section partie annexe livre tome leçon lecon acte scène scene "
    "étape etape module unité unite volume épisode episode appendice préambule"
)
_PART_WORDS = frozenset(_PARTS.split())
# A Markdown table's row: each is one block, never glued to the next; the header row (the
# one above the rule row "|---|") is a title.
_TABLE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$|^[^|\n]*\S \| \S")
# Markdown emphasis around a line ("**Ingrédients :**") hides its final punctuation.
_EMPHASIS = "*_ \t"
# A line is a block of its own (heading, list item) when it is separated by a newline
# (Windows files end their lines with "\r\n": the "\r" is no part of the line).
_LINE = re.compile(r"[^\r\n]+")
# Markdown markup lines: a code fence ("```bash") or a table's rule row ("|---|:--:|").
_MARKUP_LINE = re.compile(r"^[ \t]*(?:```|~~~)|^(?=[^\n]*\|)(?=[^\n]*-)[|:\- \t]+$")
# A table of contents entry: a dot (or ellipsis, middle dot) leader then a page number.
_TOC_ENTRY = re.compile(r"(?:[.·…][ \t]?){4,}[ \t]*(?:\d{1,4}|[ivxlcdm]{1,7})[ \t]*$", re.I)


@dataclass(frozen=True)
class Sentence:
    """A sentence of a text: ``text[start:end]``, stripped, bullet mark excluded."""

    start: int
    end: int
    text: str
    heading: bool = False
    bullet: bool = False


def _is_abbreviation(before: str, mark: str) -> bool:
    """Whether the period after ``before`` belongs to an abbreviation, not an ending."""
    if mark != ".":
        return False
    m = _WORD_BEFORE.search(before)
    if not m:
        return False
    word = m.group(1).lower().strip(".")
    if not word:
        return False
    last = word.rsplit(".", 1)[-1] if "." in word and not word.endswith("j.-c") else word
    if word in ABBREVIATIONS or last in ABBREVIATIONS:
        return True
    if len(word) > 4 and word.endswith("str") and m.group(1)[:1].isupper():
        return True  # a German street: "Bahnhofstr. 14"
    if _TWO_PART.search(before):
        return True
    # A lone initial: "J. K. Rowling", "George W. Bush" (a capital letter alone).
    token = m.group(1).strip(".")
    return len(token) == 1 and token.isalpha() and token.isupper()


def _german_date(before: str, text: str, nxt: int) -> bool:
    if not _GERMAN_DAY.search(before):
        return False
    if _GERMAN_MONTH.match(text, nxt):
        return True
    shared = _SHARED_MONTH.match(text, nxt)
    return shared is not None and (
        shared.group(1) is not None or _GERMAN_DAY_AFTER.search(before) is not None
    )


def _ends_after_abbreviation(before: str, word: str, text: str, nxt: int) -> bool:
    """Whether a period that follows an abbreviation-like ``word`` still ends the sentence:
    a unit after a number before a capital, or a company form / "J.-C." / a capital letter
    alone ("le bâtiment B.") before a word that starts sentences."""
    if not text[nxt].isupper():
        return False
    if _UNIT_BEFORE.search(before) and word not in _NO_BREAK_AFTER and word not in _NOT_UNITS:
        return True
    following = _NEXT_WORD.match(text, nxt)
    if following is None or following.group(0).lower() not in _STARTER_WORDS:
        return False
    if word in _ENDING_ABBREVIATIONS:
        return True
    # A lone capital, not an initial: "bâtiment B. L'entreprise", "building B. The
    # plumber"; but "J. Le Goff", "Marie L. La Fontaine" (articles that begin names) stay.
    # ("z", "u", "d", "v" are German abbreviations in lower case only: "bâtiment D." is one.)
    lone = len(word) == 1 and word != "m" and before.rstrip()[-1:].isupper()
    return lone and following.group(0).lower() not in _NAME_PARTICLES


def _inside_guillemets(text: str, start: int, pos: int) -> bool:
    """Whether ``pos`` is inside an open « quotation » begun after ``start`` (bounded)."""
    opened = text.rfind("«", start, pos)
    if opened < 0 or pos - opened > 400:
        return False
    return text.find("»", opened, pos) < 0


def _split_block(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """Sentence spans of one block ``text[a:b]`` (one line or paragraph)."""
    spans = []
    pos = a
    for m in _END.finditer(text, a, b):
        end = m.end(2)
        nxt = m.end(3)
        if nxt >= b:
            break
        if not _STARTER.match(text, nxt):
            continue
        mark = m.group(1)
        before = text[pos : m.start(1)]
        if _is_abbreviation(before, mark):
            word = _WORD_BEFORE.search(before)
            w = word.group(1).lower().strip(".") if word else ""
            # Titles and initials before a name; "etc." may still end a sentence when a
            # capital follows, but only "etc." (a title never ends one).
            no_break = w in _NO_BREAK_AFTER or w not in ABBREVIATIONS or not m.group(2)
            if (
                no_break
                and not (w == "etc" and text[nxt].isupper())
                and not _ends_after_abbreviation(before, w, text, nxt)
            ):
                continue
        if _inside_guillemets(text, pos, m.start(1)) and not m.group(2):
            continue
        if mark == "." and _german_date(before, text, nxt):
            continue  # "zum 1. Januar 2025": a German date's day, not a sentence's end
        spans.append((pos, end))
        pos = nxt
    spans.append((pos, b))
    return spans


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


# Words a broken sentence may end a line with ("fabriquée par\nTSMC"): not a title.
_CONTINUES_WORDS = (
    "à a au aux de des du d' en et ou la le les l' par pour sur dans avec que qui un une "
    "the of and or to in on for by with a an"
)
_CONTINUES = frozenset(_CONTINUES_WORDS.split())
# ... and the determiners that cannot end a phrase either ("of this" / "Package.").
_DETERMINER_WORDS = (
    "ce cet cette ces son sa ses leur leurs mon ma mes ton ta tes notre nos votre vos "
    "this that these those its their his her our your my"
)
_NEEDS_MORE = _CONTINUES | frozenset(_DETERMINER_WORDS.split())


def _needs_more(line: str) -> bool:
    words = line.split()
    return bool(words) and words[-1].lower() in _NEEDS_MORE


def _is_heading_line(line: str, alone: bool, next_line: str | None, width: int = 0) -> bool:
    if _HEADING_MD.match(line) or _TOC_ENTRY.search(line) or _MARKUP_LINE.match(line):
        return True
    if _wrapped(line, next_line, width) or " | " in line:
        return False  # wrapped text, or a table row ("1001 | installer le paquet ..."): content
    if _is_field(line):
        return False  # "Lieu : salle Condorcet, bâtiment B": a field and its value
    s = line.strip().strip(_EMPHASIS)
    if not s:
        return True  # "***", "* * *", "___": a rule between sections, no content
    # A short line with no final punctuation: a title when it stands as its own
    # paragraph, or when it starts with a capital, does not end on a word that needs a
    # continuation, and a line starting with a capital follows it.
    if len(s) > 80 or re.search(r"[.!?:;,…»\"”)]$", s) or len(s.split()) > 12:
        return False
    if alone:
        return True
    last = s.split()[-1].lower()
    follows = next_line is None or next_line.lstrip()[:1].isupper()
    return s[:1].isupper() and last not in _CONTINUES and follows


def _is_field(line: str) -> bool:
    """ "Lieu : salle Condorcet": one capitalised word that names no part of a text, a
    colon, a value; or "Capacité du bac : 0,6 litre": a label of a few words without a
    number and a value with one (a datasheet's line, which answers "Quelle capacité ?")."""
    m = _FIELD.match(line)
    if m is not None:
        return m.group("key").lower() not in _PART_WORDS
    m = _MEASURE_FIELD.match(line)
    return (
        m is not None
        and not any(w.lower() in _PART_WORDS for w in m.group("key").split())
        and not _YEAR_RANGE.match(line, m.end("key"))
    )


def _numbered_heading(line: str, next_line: str | None, previous: str | None) -> bool:
    """A numbered title over its section's text ("1. Effectifs" / "L'école compte 196
    élèves."), not an item of a list: short, no final punctuation, no item just before it,
    and the next line is no item but a sentence starting with a capital."""
    if not _NUMBERED.match(line) or next_line is None or _BULLET.match(next_line):
        return False
    if previous is not None and (_BULLET.match(previous) or previous.rstrip().endswith(":")):
        return False  # an item of a list: after another, or after "Étapes :"
    title = _NUMBERED.sub("", line).strip().strip(_EMPHASIS)
    return (
        0 < len(title) <= 60
        and len(title.split()) <= 8
        and title[:1].isupper()
        and not re.search(r"[.!?:;,…»\"”)]$", title)
        and next_line.lstrip()[:1].isupper()
    )


# Hard-wrapped text (plain text, a PDF's lines): a line that fills this share of the width
# it is measured against (_block_widths), with the next word, was wrapped there; it is no
# title even if short.
WRAP_SHARE = 0.85
MIN_WRAP_WIDTH = 40


def _wrapped(line: str, next_line: str | None, width: int) -> bool:
    """Whether ``line`` ends where its block wraps ("Cependant, les utilisateurs peuvent en
    principe obtenir le noyau" / "Linux via Internet"): its length and the next line's first
    word reach ``width`` (see :func:`_block_widths`)."""
    if next_line is None or width < MIN_WRAP_WIDTH or not next_line.strip():
        return False
    word = next_line.split()[0]
    return len(line.rstrip()) + 1 + len(word) >= WRAP_SHARE * width


def _blank_before(text: str, lines: list[re.Match[str]]) -> list[bool]:
    """For each line, whether a blank line (or the start) comes before it: where blocks
    start."""
    return [
        not i or "\n\n" in re.sub(r"[ \t\r]", "", text[lines[i - 1].end() : line.start()])
        for i, line in enumerate(lines)
    ]


def _block_widths(lines: list[re.Match[str]], starts: list[bool]) -> list[int]:
    """For each line, the width it is measured against: the widest *other* line of its
    block (lines with no blank line between them, ``starts`` marking their first), since a
    title is often the widest line of its block; in a block of fewer than 3 lines, the width
    the text wraps at elsewhere (the 90th percentile of the lines of its longer blocks, when
    there are 3 of them), or 0 when the text is not hard-wrapped."""
    blocks: list[list[int]] = []
    for line, first in zip(lines, starts):
        if first:
            blocks.append([])
        blocks[-1].append(len(line.group(0).rstrip()))
    wrapped = sorted(n for block in blocks if len(block) >= 3 for n in block)
    usual = wrapped[int(0.9 * (len(wrapped) - 1))] if len(wrapped) >= 3 else 0
    widths: list[int] = []
    for block in blocks:
        if len(block) < 3:
            widths += [usual] * len(block)
            continue
        top, second = sorted(block, reverse=True)[:2]
        widths += [second if n == top else top for n in block]
    return widths


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Sentence]:
    """The sentences of ``text[start:end]`` in the coordinates of ``text``."""
    end = len(text) if end is None else end
    out: list[Sentence] = []
    lines = list(_LINE.finditer(text, start, end))
    starts = _blank_before(text, lines)
    widths = _block_widths(lines, starts)
    for i, line in enumerate(lines):
        a, b = line.start(), line.end()
        raw = text[a:b]
        if not raw.strip():
            continue
        prev_blank = starts[i]
        next_blank = i == len(lines) - 1 or starts[i + 1]
        bullet_mark = _BULLET.match(raw)
        if bullet_mark is not None and not raw.strip().strip(_EMPHASIS):
            bullet_mark = None  # "* * *": a rule, not a list item
        bullet = bullet_mark is not None
        md = _HEADING_MD.match(raw)
        following = text[lines[i + 1].start() : lines[i + 1].end()] if i + 1 < len(lines) else None
        heading = bool(md) or (
            not bullet
            and _is_heading_line(
                raw, prev_blank and next_blank, following, 0 if next_blank else widths[i]
            )
        )
        prev_line = text[lines[i - 1].start() : lines[i - 1].end()] if i else ""
        previous = None if prev_blank else prev_line
        if bullet and not next_blank and _numbered_heading(raw, following, previous):
            heading, bullet = True, False
        row = _TABLE_ROW.match(raw) is not None
        if row and following is not None and _MARKUP_LINE.match(following):
            heading = True  # the header row of a table
        if md:
            a += md.end()
        elif bullet_mark is not None:
            a += bullet_mark.end()
        # A line that continues a sentence of the previous line is joined to it.
        if (
            out
            and not heading
            and not bullet
            and not out[-1].heading
            and not re.search(r"[.!?…:»\"”]\s*$", text[out[-1].start : out[-1].end])
            and not (prev_blank and i > 0)
            and not row
            and not _TABLE_ROW.match(prev_line)
            # "Date : …" under "Lieu : …" is a field of its own ("… par" / "Marie Curie :
            # elle…" goes on: only a field follows a field).
            and not (_is_field(raw) and _is_field(prev_line))
            # After a list item, a line flush left with a capital starts the text again,
            # unless the item was cut there mid-phrase ("… distribution of this" /
            # "Package."): wrapped, on a word that needs what follows.
            and not (
                out[-1].bullet
                and raw[:1].isupper()
                and not (_wrapped(prev_line, raw, widths[i - 1]) and _needs_more(prev_line))
            )
        ):
            last = out.pop()
            a = last.start
            bullet = last.bullet
        # A heading is one line, never cut at its number ("### 1. Approbation du budget").
        for s, e in [(a, b)] if heading else _split_block(text, a, b):
            s, e = _strip(text, s, e)
            if s < e:
                out.append(Sentence(s, e, text[s:e], heading=heading, bullet=bullet))
    return out
