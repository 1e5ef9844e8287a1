"""English questions about French text: the fusion weights they get, against the French ones.

    python tests/bench/bench_english.py --piaf-index /tmp/ragchips-piaf \
        [--transfer-index DIR]   (default: the Debian Reference indexed by this run)

BM25 reads an English question's words in French text: "the", "what", "time" are rare
there, so they weigh heavily and land on English song titles, while "style", "position"
or "region" land on unrelated French sentences. An English question therefore gets
``hybrid.weights_for``: its lexical signals at ``ENGLISH_LEXICAL`` of their weight on French
text (the "English" rows), against the French questions' weights (``ENGLISH_LEXICAL`` = 1).
This prints both columns in one run, on the same questions: 124 PIAF dev questions
translated into English by hand (``tests/data/piaf_en.jsonl``: 84 of the even articles,
whose first 40 tuned the weight and the other 44 the second sentence by meaning
(``answer.SIMILAR_SECOND``), and 40 of the odd ones), the seeds' 43 translations (even lines
tuned, odd lines confirm) and, when Debian's ``debian-reference-fr`` is installed
(``.ci/install-debian-reference``; its index is built as ``bench_transfer.py`` does, unless
``--transfer-index`` already holds one),
the Debian Reference's 30 English questions; then an English collection, eight licences of
``/usr/share/common-licenses`` (Debian's ``base-files``) with 22 English questions written
from them (``tests/data/licenses_en.jsonl``), where BM25 must keep its weight ("flat" shows
what the tuned weight would do there if it ignored how English the collection is; the
markers were chosen on this set). Ranks are ``ragchips eval``'s (document-level;
for questions with a phrase, the first passage of the gold document that holds it).
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import ROOT, index_with_cli  # tests/bench is sys.path[0] for a script
from bench_transfer import CHAPTERS, SOURCE

from ragchips import ask, hybrid, open_index
from ragchips.evaluation import evaluate

DATA = ROOT / "tests" / "data"
LICENSES = Path("/usr/share/common-licenses")
LICENSE_FILES = (
    "Apache-2.0",
    "GPL-3",
    "MPL-2.0",
    "CC0-1.0",
    "BSD",
    "Artistic",
    "LGPL-3",
    "GFDL-1.3",
)


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def licenses_index(out: Path) -> Any:
    """The English licences indexed by the real CLI (the file name is the doc id)."""
    corpus = out / "corpus"
    shutil.rmtree(out, ignore_errors=True)
    corpus.mkdir(parents=True)
    for name in LICENSE_FILES:
        shutil.copy(LICENSES / name, corpus / f"{name}.txt")
    return index_with_cli(corpus, out / "index")


def measure(
    label: str, questions: list[dict[str, Any]], index: Any, variants: tuple[str, ...]
) -> None:
    tuned = hybrid.ENGLISH_LEXICAL
    share = index.english_text()
    for name in variants:
        hybrid.ENGLISH_LEXICAL = 1.0 if name == "French" else tuned
        saved = hybrid.HybridSearch.english_text
        if name == "flat":
            hybrid.HybridSearch.english_text = lambda self: 0.0  # type: ignore[method-assign]
        try:
            r = evaluate(questions, lambda q, k: ask(q, k=k, index=index), "hybrid")
        finally:
            hybrid.ENGLISH_LEXICAL = tuned
            hybrid.HybridSearch.english_text = saved  # type: ignore[method-assign]
        print(
            f"| {label} | {len(questions)} | {share:.3f} | {name} | {r.recall_at_1:.3f} "
            f"| {r.recall_at_5:.3f} | {r.mrr_at_10:.3f} | {r.answer_containment:.3f} "
            f"| {r.first_sentence_containment:.3f} |",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--piaf-index", required=True)
    parser.add_argument(
        "--transfer-index", default=None, help="a Debian Reference index (default: built here)"
    )
    args = parser.parse_args()
    piaf = read(DATA / "piaf_en.jsonl")
    seeds = read(DATA / "seeds_gold_en.jsonl")
    print(
        f"English questions: lexical weight {hybrid.ENGLISH_LEXICAL} of {hybrid.WEIGHTS} on "
        "French text, rising with the collection's English text share"
    )
    print(
        "| questions | n | English text share | weights | recall@1 | recall@5 | MRR@10 "
        "| answer contains gold | first sentence |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    both = ("English", "French")
    piaf_index = open_index(args.piaf_index)
    even = [q for q in piaf if q["half"] == "even"]
    measure("PIAF, even articles (tuning)", even, piaf_index, both)
    measure("PIAF, odd articles", [q for q in piaf if q["half"] == "odd"], piaf_index, both)
    seeds_index = open_index(None)
    measure("seeds, even lines (tuning)", seeds[0::2], seeds_index, both)
    measure("seeds, odd lines", seeds[1::2], seeds_index, both)
    with tempfile.TemporaryDirectory() as scratch:
        # Built by this run unless given: an index left by an earlier run may be of older code.
        transfer = Path(args.transfer_index or Path(scratch) / "transfer")
        if not (transfer / "manifest.json").is_file() and (SOURCE / "ch01.fr.html").is_file():
            corpus = Path(scratch) / "corpus"
            corpus.mkdir()
            for name in CHAPTERS:  # doc id = file stem, as the questions name them
                shutil.copy(SOURCE / f"{name}.fr.html", corpus / f"{name}.html")
            index_with_cli(corpus, transfer)
        if not (transfer / "manifest.json").is_file():
            print(f"no Debian Reference row: {SOURCE} has no French chapters", file=sys.stderr)
        else:
            questions = read(DATA / "transfer" / "questions_en.jsonl")
            measure("Debian Reference", questions, open_index(transfer), both)
    if all((LICENSES / name).is_file() for name in LICENSE_FILES):
        with tempfile.TemporaryDirectory() as tmp:
            index = licenses_index(Path(tmp))
            questions = read(DATA / "licenses_en.jsonl")
            measure("English licences", questions, index, ("English", "French", "flat"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
