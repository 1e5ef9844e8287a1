"""French analyzer: turn text into index terms for lexical (BM25) search.

Why: dense retrieval misses exact names, numbers and rare words ("Tigris", "G42",
"MI300"), and a stock English tokenizer mangles French (elisions glued to words, no
stemming, English stop words, "10 000" split in two). This module produces terms that
make a French question match French passages:

1. Unicode NFKC (PDF ligatures "ﬁ" -> "fi"), lower-casing, typographic apostrophes
   (’ ‘ ʼ) folded to ', Unicode hyphens (U+2010, U+2011) to "-", soft hyphens removed.
2. Numbers kept whole: thousands groups separated by a space, NBSP (U+00A0) or narrow
   NBSP (U+202F) are joined ("10 000" -> "10000"); decimals keep one token with "." as
   separator ("14,2" and "14.2" -> "14.2"); alphanumerics stay whole ("G42", "MI300").
   "%" adds no token: "80 %", "80%" and "80 pour cent" all share the term "80", and a
   separate "%"-marked term would only split that evidence between spellings.
3. Elisions stripped (l' d' qu' jusqu' lorsqu' puisqu' quoiqu' n' s' c' j' m' t'):
   "d'Intel" -> "intel", "l’IA" -> "ia".
4. French stop words removed (:data:`FRENCH_STOP_WORDS`, function words, auxiliaries,
   question words; never "ia", "pdg" or numbers).
5. Snowball French stemming (PyStemmer), skipped for tokens containing a digit.
6. Accent folding *after* stemming, plus the stem of the folded word when it differs
   (``accents="both"``, default). Snowball needs accents to stem well ("première" and
   "premier" -> "premi"), but a question typed without accents stems differently
   ("electricite" -> "electricit", while "électricité" -> "électr" -> "electr"). Emitting
   both fold(stem(w)) and stem(fold(w)) makes accented and unaccented spellings share a
   term in both directions while keeping Snowball's conflations for accented text.
   Queries use :meth:`FrenchAnalyzer.query_groups`, so the two spellings of one word count
   once (their best score) rather than twice: summing them cost 0.007-0.010 MRR@10 on
   PIAF. On PIAF the three orders are within noise of each other (stem-then-fold alone
   fails "electricite"/"électricité", fold-then-stem alone fails "premiere"/"premier").
7. Hyphenated and apostrophe compounds ("Jean-Pierre", "al-Nahyan", "GPT-4",
   "aujourd'hui"): each non-stop part is a term, and when at least two parts are not stop
   words and one has a letter, the joined form is a term too ("al-Nahyan" -> "al",
   "nahyan", "alnahyan"; "GPT-4" -> "gpt", "4", "gpt4"), so "Nahyan" alone, "GPT4" and
   "GPT-4", "plateforme" and "plate-forme" all match. Inverted pronouns leave only the
   verb ("quitte-t-il" -> "quitt"); number ranges ("1826-1828") get no joined form.
   Parts only, joined only and both score within noise on PIAF; "both" is kept because
   it is the only one matching all those spellings.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import Stemmer

__all__ = ["FRENCH_STOP_WORDS", "FrenchAnalyzer", "analyze", "analyze_query", "fold_accents"]

AccentMode = Literal["stem_then_fold", "fold_then_stem", "both", "keep"]
HyphenMode = Literal["parts", "joined", "both"]

_STOP_WORDS_ACCENTED = """
a à â ai aie aient aies ait as au aux avaient avais avait avant avec avez aviez avions avoir
avons ayant ayez ayons aura aurai auraient aurais aurait auras aurez auriez aurions aurons
auront auquel auxquels auxquelles
c ç ça ce ceci cela celle celles celui cependant certain certaine certaines certains ces cet
cette ceux chacun chacune chaque chez ci combien comme comment concernant contre
d dans de depuis des desquels desquelles dès donc dont du duquel durant
elle elles en encore entre es est et étaient étais était étant été étée étées étés êtes
étiez étions être eu eue eues eûmes eurent eus eusse eussent eusses eussiez eussions eut eût
eûtes eux
fûmes fur furent fus fusse fussent fusses fussiez fussions fut fût fûtes
hormis
ici il ils
j je jusqu jusque
l la là laquelle le lequel les lesquelles lesquels leur leurs lors lorsqu lorsque lui
m ma mais me même mêmes mes moi moins mon
n ne ni nos notre nous
on ont ou où
par parce parmi pas pendant peu plus pour pourquoi puis puisqu puisque
qu quand que quel quelle quelles quels qui quoi quoiqu quoique
s sa sans se selon sera serai seraient serais serait seras serez seriez serions serons seront
ses si sien sienne soi soient sois soit sommes son sont sous soyez soyons suis sur
t ta tandis te tel telle telles tels tes toi ton tous tout toute toutes très tu
un une
vers via vos votre vôtre vous
y
"""

_SPECIAL_FOLDS = {
    "œ": "oe",
    "Œ": "OE",
    "æ": "ae",
    "Æ": "AE",
    "ß": "ss",
    "ø": "o",
    "Ø": "O",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ı": "i",
}


def _build_fold_table() -> dict[int, str | None]:
    """Map accented Latin/Greek/Cyrillic letters to their base letters; drop lone marks."""
    table: dict[int, str | None] = {ord(k): v for k, v in _SPECIAL_FOLDS.items()}
    for cp in (
        *range(0x00C0, 0x0250),
        *range(0x0370, 0x0400),
        *range(0x0400, 0x0500),
        *range(0x1E00, 0x1F00),
    ):
        ch = chr(cp)
        if cp in table:
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        if base and base != ch:
            table[cp] = base
    for cp in range(0x0300, 0x0370):  # combining diacritical marks left after NFC
        table[cp] = None
    return table


_FOLD_TABLE = _build_fold_table()


def fold_accents(text: str) -> str:
    """Remove diacritics: "pénurie" -> "penurie", "cœur" -> "coeur"."""
    return text if text.isascii() else text.translate(_FOLD_TABLE)


FRENCH_STOP_WORDS: frozenset[str] = frozenset(
    w for word in _STOP_WORDS_ACCENTED.split() for w in (word, fold_accents(word))
)
"""French function words, each also without accents (a query may be typed without them).

Articles, pronouns, prepositions, conjunctions, forms of "être"/"avoir", question words
("quel", "combien", "pourquoi"...). Content-bearing short words ("ia", "pdg", "or",
numbers, number words) are deliberately absent."""

# Function words of the other languages a multilingual collection is asked in (Spanish,
# German, Italian), dropped from questions that hold two of them or more: "¿Quién diseñó el
# museo del Prado?" must not rank Spanish documents for "el" and "del", words that are rare,
# so heavy, in French text; one alone is a name or an acronym ("le DAS du téléphone", "Che
# Guevara", "Los Angeles"). None is a French word, nor an English one that may carry a
# question ("die", "war", "hat", "come", "dove", "era", "non", "su", "con", "mit", "este").
_OTHER_FUNCTION_WORDS = """
el los las del al una unos unas qué quién quiénes cuál cuáles cuándo cuánto cuánta cuántos
cuántas dónde cómo por para está están fue fueron hay esta estos estas pero
der das dem den ein eine einen einem einer eines und oder ist sind waren wird werden wurde
wurden haben hatte wer wen wem wessen wo wann wie warum welche welcher welches von für
auf bei zum zur vom im sich nicht auch
gli uno della dello dei degli delle alla allo ai agli alle dal dalla nel nella nei sul sulla
di da tra che chi cosa quale quali perché quanto quanti quanta quante sono erano hanno
"""
OTHER_FUNCTION_WORDS: frozenset[str] = frozenset(
    w for word in _OTHER_FUNCTION_WORDS.split() for w in (word, fold_accents(word))
)

_PUNCT = (("’", "'"), ("‘", "'"), ("ʼ", "'"), ("\u2010", "-"), ("\u2011", "-"), ("\u00ad", ""))
_THOUSANDS = re.compile(r"(?<![\w.,])\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?!\d)")
_SPACES = re.compile(r"[ \u00a0\u202f]")
_ELISION = re.compile(r"(?<![^\W_])(?:l|d|qu|jusqu|lorsqu|puisqu|quoiqu|n|s|c|j|m|t)'(?=[^\W_])")
_PART = r"[^\W_]+(?:(?<=\d)[.,]\d+)*"
_TOKEN = re.compile(rf"{_PART}(?:[-']{_PART})*")
_SPLIT_COMPOUND = re.compile(r"[-']")
_HAS_DIGIT = re.compile(r"\d")
_HAS_LETTER = re.compile(r"[^\W\d_]")

_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    """The French Snowball stemmer of this thread (PyStemmer objects are not thread-safe)."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("french")
    return stemmer


@dataclass(frozen=True)
class FrenchAnalyzer:
    """Configurable French analyzer; ``FrenchAnalyzer()(text)`` equals ``analyze(text)``.

    Options exist to measure alternatives (tests/bench/bench_lexical.py); the defaults
    are the ones chosen on PIAF. ``accents``: "both" (fold(stem(w)) and stem(fold(w))),
    "stem_then_fold", "fold_then_stem" or "keep" (no folding). ``hyphens``: "both",
    "parts" or "joined". ``stop_words``: lower-case words (give unaccented spellings too),
    or None to keep all. ``stem``: Snowball stemming on/off.
    """

    accents: AccentMode = "both"
    hyphens: HyphenMode = "both"
    stop_words: frozenset[str] | None = FRENCH_STOP_WORDS
    stem: bool = True

    def __call__(self, text: str) -> list[str]:
        """Index terms of ``text``, in order (duplicates kept: they are term frequencies)."""
        accents, stem = self.accents, self.stem
        words = self._words(self._normalize(text), self.stop_words)
        return [t for word in words for t in _word_terms(word, accents, stem)]

    def query_groups(self, text: str) -> list[list[str]]:
        """Query terms of ``text`` grouped by word: a group holds the alternative terms of
        one word (with ``accents="both"``, the accented-stem and folded-stem spellings).

        A scorer should count each group once (e.g. the best-scoring alternative), so that
        a word with two spellings does not weigh twice as much as a word with one.
        """
        accents, stem = self.accents, self.stem
        text = self._normalize(text)
        stop = self.stop_words
        if stop is not None and _other_language(text):
            stop = _with_other_languages(stop)
        return [list(_word_terms(word, accents, stem)) for word in self._words(text, stop)]

    def _words(self, text: str, stop: frozenset[str] | None) -> Iterator[str]:
        """Words of normalised ``text`` to turn into terms: stop words dropped, compounds
        expanded."""
        stop = stop or frozenset()
        for token in _TOKEN.findall(text):
            if "-" not in token and "'" not in token:
                if token not in stop:
                    yield token
                continue
            parts = _SPLIT_COMPOUND.split(token)
            kept = [p for p in parts if p not in stop]
            joined = (
                len(kept) >= 2 and self.hyphens != "parts" and _HAS_LETTER.search(token) is not None
            )
            if not joined or self.hyphens != "joined":
                yield from kept
            if joined:
                yield "".join(parts)

    @staticmethod
    def _normalize(text: str) -> str:
        """NFKC, lower case, unified apostrophes/hyphens, joined thousands, no elisions."""
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text)
            for old, new in _PUNCT:  # str.replace beats str.translate with a dict table
                if old in text:
                    text = text.replace(old, new)
        text = text.lower()
        if _HAS_DIGIT.search(text):
            text = _THOUSANDS.sub(lambda m: _SPACES.sub("", m.group()), text)
        if "'" in text:
            text = _ELISION.sub("", text)
        return text


def _other_language(text: str) -> bool:
    """Whether a question holds two Spanish, German or Italian function words or more."""
    words = _TOKEN.findall(text)
    return sum(w in OTHER_FUNCTION_WORDS and w not in FRENCH_STOP_WORDS for w in words) >= 2


@lru_cache(maxsize=8)
def _with_other_languages(stop: frozenset[str]) -> frozenset[str]:
    return stop | OTHER_FUNCTION_WORDS


@lru_cache(maxsize=1 << 16)
def _word_terms(word: str, accents: AccentMode, stem: bool) -> tuple[str, ...]:
    """Terms of one word (no hyphen, not a stop word): one, or two alternative spellings.

    Memoised (thread-safe): words repeat, and folding + stemming cost a few µs each.
    """
    if _HAS_DIGIT.search(word):
        word = word.replace(",", ".")
        return (word if accents == "keep" else fold_accents(word),)
    if not stem:
        return (word if accents == "keep" else fold_accents(word),)
    stem_word = _stemmer().stemWord
    if accents == "keep" or word.isascii():
        return (stem_word(word),)
    if accents == "stem_then_fold":
        return (fold_accents(stem_word(word)),)
    if accents == "fold_then_stem":
        return (stem_word(fold_accents(word)),)
    first = fold_accents(stem_word(word))
    second = stem_word(fold_accents(word))
    return (first,) if first == second else (first, second)


_DEFAULT = FrenchAnalyzer()


def analyze(text: str) -> list[str]:
    """Index terms of French ``text`` with the default :class:`FrenchAnalyzer`."""
    return _DEFAULT(text)


def analyze_query(text: str) -> list[list[str]]:
    """Query terms of ``text`` grouped by word (see :meth:`FrenchAnalyzer.query_groups`).

    The last question analysed on this thread is remembered: ``ask()`` analyses the
    question once (:class:`ragchips.query.Question`) and the BM25 scorer, which is given the
    text, gets the same analysis back instead of redoing it.
    """
    last = getattr(_local, "last_query", None)
    if last is None or last[0] != text:
        last = _local.last_query = (text, tuple(tuple(g) for g in _DEFAULT.query_groups(text)))
    return [list(g) for g in last[1]]
