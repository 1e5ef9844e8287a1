"""Measure French lexical retrieval on the PIAF dev split (not a test).

Why: the analyzer's choices (accent folding order, hyphen handling, stop words) and the
BM25 k1/b defaults of ragchips.lexical are picked from these numbers. Recall@1/5/10 and
MRR@10 of the gold paragraph, over whole paragraphs with and without their title.

    .venv/bin/python tests/bench/bench_lexical.py [--piaf DIR] [--grid]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ragchips.analysis import FrenchAnalyzer, analyze  # noqa: E402
from ragchips.lexical import DEFAULT_B, DEFAULT_K1, LexicalIndex  # noqa: E402

Scorer = Callable[[str], np.ndarray]


def load_piaf(directory: Path) -> tuple[list[dict], list[dict]]:
    """Corpus paragraphs and questions of the PIAF split."""

    def read(name: str) -> list[dict]:
        with open(directory / name, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    return read("corpus.jsonl"), read("questions.jsonl")


def evaluate(score: Scorer, questions: list[dict], row_of: dict[str, int]) -> dict[str, float]:
    """Recall@1/5/10 and MRR@10 of the gold row; ties ranked by row id, zero score = miss."""
    hits = {1: 0, 5: 0, 10: 0}
    rr = 0.0
    for q in questions:
        s = score(q["question"])
        gold = row_of[q["doc_id"]]
        if s[gold] <= 0:
            continue
        rank = int(np.sum(s > s[gold]) + np.sum(s[:gold] == s[gold])) + 1
        for k in hits:
            hits[k] += rank <= k
        if rank <= 10:
            rr += 1.0 / rank
    n = len(questions)
    return {"R@1": hits[1] / n, "R@5": hits[5] / n, "R@10": hits[10] / n, "MRR@10": rr / n}


def bm25s_scorer(texts: list[str], stopwords: str, stemmer: object | None) -> Scorer:
    """bm25s with its own regex tokenizer (the baseline), default k1=1.5, b=0.75."""
    tokens = bm25s.tokenize(
        texts, stopwords=stopwords, stemmer=stemmer, return_ids=False, show_progress=False
    )
    model = bm25s.BM25()
    model.index(tokens, show_progress=False)

    def score(query: str) -> np.ndarray:
        q = bm25s.tokenize(
            query, stopwords=stopwords, stemmer=stemmer, return_ids=False, show_progress=False
        )[0]
        q = [t for t in q if t in model.vocab_dict]
        if not q:
            return np.zeros(len(texts), dtype=np.float32)
        return model.get_scores(q)

    return score


def ours(
    texts: list[str],
    analyzer: Callable[[str], list[str]] = analyze,
    k1: float = DEFAULT_K1,
    b: float = DEFAULT_B,
) -> Scorer:
    """ragchips.lexical.LexicalIndex with the given analyzer and parameters."""
    return LexicalIndex.build(texts, analyzer=analyzer, k1=k1, b=b).scores


def variants(grid: bool) -> list[tuple[str, Callable[[list[str]], Scorer]]]:
    """Named systems to compare."""
    fr = Stemmer.Stemmer("french")
    bm25s_fr = frozenset(bm25s.stopwords.STOPWORDS_FRENCH)
    default = FrenchAnalyzer()  # wrapped in a plain function, queries lose their word groups
    rows: list[tuple[str, Callable[[list[str]], Scorer]]] = [
        (
            "bm25s default tokenizer, English stop words (baseline)",
            lambda t: bm25s_scorer(t, "en", None),
        ),
        (
            "bm25s tokenizer + bm25s French stop words + Snowball",
            lambda t: bm25s_scorer(t, "fr", fr),
        ),
        (f"ours: default analyze, k1={DEFAULT_K1} b={DEFAULT_B}", lambda t: ours(t)),
        (
            "  accents=both, alternatives summed (not max)",
            lambda t: ours(t, lambda text: default(text)),
        ),
        ("  accents=stem_then_fold", lambda t: ours(t, FrenchAnalyzer(accents="stem_then_fold"))),
        ("  accents=fold_then_stem", lambda t: ours(t, FrenchAnalyzer(accents="fold_then_stem"))),
        ("  accents=keep (no folding)", lambda t: ours(t, FrenchAnalyzer(accents="keep"))),
        ("  hyphens=parts", lambda t: ours(t, FrenchAnalyzer(hyphens="parts"))),
        ("  hyphens=joined", lambda t: ours(t, FrenchAnalyzer(hyphens="joined"))),
        ("  stop words: bm25s French list", lambda t: ours(t, FrenchAnalyzer(stop_words=bm25s_fr))),
        ("  stop words: none", lambda t: ours(t, FrenchAnalyzer(stop_words=None))),
        ("  no stemming", lambda t: ours(t, FrenchAnalyzer(stem=False))),
    ]
    params = [(0.6, 0.75), (0.9, 0.4), (1.2, 0.75), (1.5, 0.75), (2.0, 0.75)]
    if grid:
        params = [(k1, b) for k1 in (0.6, 0.9, 1.2, 1.5, 2.0) for b in (0.3, 0.5, 0.75, 0.9)]
    for k1, b in params:
        if (k1, b) != (DEFAULT_K1, DEFAULT_B):
            rows.append((f"  k1={k1} b={b}", lambda t, k1=k1, b=b: ours(t, k1=k1, b=b)))
    return rows


def analyzer_speed(questions: list[dict]) -> str:
    """Median per-call time of analyze() on 10-word questions and on all questions."""
    texts = [q["question"] for q in questions]
    ten = [t for t in texts if len(t.split()) == 10] or texts
    for t in texts:
        analyze(t)  # warm the stemmer cache like a running service
    out = []
    for label, sample in (("10-word questions", ten), ("all questions", texts)):
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            for t in sample:
                analyze(t)
            runs.append((time.perf_counter() - start) / len(sample))
        out.append(f"{label} (n={len(sample)}): {statistics.median(runs) * 1e6:.1f} µs/question")
    return "; ".join(out)


def main() -> None:
    """Print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--piaf", type=Path, default=Path("/work/shared/eval/piaf"))
    parser.add_argument("--grid", action="store_true", help="full k1 x b grid")
    args = parser.parse_args()
    corpus, questions = load_piaf(args.piaf)
    row_of = {d["doc_id"]: i for i, d in enumerate(corpus)}
    corpora = {
        "title+text": [d["title"] + "\n" + d["text"] for d in corpus],
        "text": [d["text"] for d in corpus],
    }
    print(f"PIAF: {len(corpus)} paragraphs, {len(questions)} questions")
    print("| system | corpus | R@1 | R@5 | R@10 | MRR@10 |")
    print("|---|---|---|---|---|---|")
    for name, make in variants(args.grid):
        for cname, texts in corpora.items():
            m = evaluate(make(texts), questions, row_of)
            print(
                f"| {name} | {cname} | {m['R@1']:.3f} | {m['R@5']:.3f} | "
                f"{m['R@10']:.3f} | {m['MRR@10']:.3f} |",
                flush=True,
            )
    print()
    print("analyze() speed:", analyzer_speed(questions))


if __name__ == "__main__":
    main()
