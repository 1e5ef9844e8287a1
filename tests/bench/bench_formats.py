"""Do answers survive the file format? The French Debian FAQ as HTML, plain text and PDF.

    sudo bash .ci/install-debian-faq    # Debian's debian-faq-fr
    python tests/bench/bench_formats.py [--out /tmp/ragchips-formats-faq]

Debian ships the same FAQ three ways (/usr/share/doc/debian/FAQ/): 17 HTML files (16
chapters and the contents page), one plain-text file and one PDF (both gzipped). Each
becomes a corpus, indexed by the real CLI with the automatic `found` calibration, and asked
the same 50 French questions (tests/data/faq/, written from the text before any answer was
looked at; notes/formats.md). A question is judged by its phrase alone, in every format: a
retrieved passage counts only if it holds the phrase, an answer only if it contains it (each
phrase was checked to occur in all three extracted texts). Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
from functools import partial
from pathlib import Path
from typing import Any

from _common import ROOT, index_with_cli  # tests/bench is sys.path[0] for a script

from ragchips import Index, ask
from ragchips.evaluation import evaluate, load_questions

SOURCE = Path("/usr/share/doc/debian/FAQ")
QUESTIONS = ROOT / "tests" / "data" / "faq" / "questions.jsonl"


def build_corpora(corpora: Path) -> dict[str, Path]:
    """The three corpora: 17 HTML files (16 chapters and the contents page), one .txt, one
    .pdf."""
    html, txt, pdf = corpora / "html", corpora / "txt", corpora / "pdf"
    for d in (html, txt, pdf):
        d.mkdir(parents=True)
    for page in sorted((SOURCE / "fr").glob("*.fr.html")):
        shutil.copy(page, html / page.name.replace(".fr.html", ".html"))
    for suffix, folder in (("txt", txt), ("pdf", pdf)):
        with gzip.open(SOURCE / f"debian-faq.fr.{suffix}.gz") as src:
            (folder / f"debian-faq.{suffix}").write_bytes(src.read())
    return {"HTML (17 files)": html, "TXT (one file)": txt, "PDF (one file)": pdf}


def by_phrase(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The questions judged by their phrase only: no gold document (its name differs by
    format), the phrase as the one answer a passage or an answer must contain."""
    return [{"id": q["id"], "question": q["question"], "answers": [q["phrase"]]} for q in questions]


def answer(question: str, k: int, index: Index) -> Any:
    return ask(question, k=k, index=index)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/ragchips-formats-faq")
    args = parser.parse_args()
    if not (SOURCE / "debian-faq.fr.pdf.gz").is_file():
        print(f"{SOURCE} has no French FAQ: run .ci/install-debian-faq", file=sys.stderr)
        return 2
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    corpora = build_corpora(out / "corpus")
    questions = by_phrase(load_questions(QUESTIONS))
    rows = []
    for label, corpus in corpora.items():
        index = index_with_cli(corpus, out / "index" / corpus.name)
        r = evaluate(questions, partial(answer, index=index), "hybrid")
        rows.append(
            f"| {label} | {len(index)} | {r.recall_at_1:.3f} | {r.recall_at_5:.3f} "
            f"| {r.mrr_at_10:.3f} | {r.answer_containment:.3f} "
            f"| {r.first_sentence_containment:.3f} | {r.found_rate:.3f} |"
        )
    print(f"{len(questions)} French questions on {SOURCE} (debian-faq-fr), judged by phrase")
    print(
        "| format | passages | recall@1 | recall@5 | MRR@10 | answer contains gold "
        "| first sentence | found |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
