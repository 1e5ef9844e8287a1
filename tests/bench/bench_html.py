"""HTML news pages: today's extractor (htmltext + cleaning) against trafilatura, per page.

    python tests/bench/bench_html.py [--json]

Each page in tests/data/html_news has its true article (title, body paragraphs, date,
author) in a .json next to it. Body recall and precision are bag-of-words overlaps between
the true body and the text each extractor leaves for indexing (after ragchips's cleaning,
which skips furniture segments); title, date and author are exact matches.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
PAGES = ROOT / "tests" / "data" / "html_news"


def words(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.lower()))


def indexed_text(text: str) -> str:
    """What the chunker sees: the segments ragchips's cleaning keeps."""
    from ragchips.cleaning import clean

    return "\n".join(text[a:b] for a, b in clean(text, web=True).segments)  # HTML pages


def extract_builtin(html: str) -> dict[str, Any]:
    from ragchips.htmltext import visible_text

    text, title = visible_text(html)
    return {"text": text, "title": title, "date": None, "author": None}


def extract_trafilatura(html: str) -> dict[str, Any]:
    from ragchips.htmltext import article

    page = article(html)
    if page is None:
        return {"text": "", "title": None, "date": None, "author": None}
    return {"text": page.text, "title": page.title, **page.metadata}


def score(truth: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    true_words = words("\n".join(truth["body"]))
    kept = words(indexed_text(got["text"])) if got["text"] else Counter()
    overlap = sum((true_words & kept).values())
    norm = " ".join((got.get("title") or "").split())
    return {
        "recall": overlap / max(1, sum(true_words.values())),
        "precision": overlap / max(1, sum(kept.values())),
        "title": norm == truth["title"],
        "date": got.get("date") == truth["date"],
        "author": got.get("author") == truth["author"],
    }


def measure() -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for page in sorted(PAGES.glob("*.html")):
        truth = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
        html = page.read_text(encoding="utf-8")
        out[page.stem] = {
            "builtin": score(truth, extract_builtin(html)),
            "trafilatura": score(truth, extract_trafilatura(html)),
        }
    return out


def main() -> None:
    results = measure()
    if "--json" in sys.argv:
        print(json.dumps(results, indent=2))
        return
    print("| page | extractor | body recall | body precision | title | date | author |")
    print("|---|---|---|---|---|---|---|")
    totals: dict[str, Counter[str]] = {}
    for page, by in results.items():
        for name, s in by.items():
            t = totals.setdefault(name, Counter())
            t["recall"] += s["recall"]
            t["precision"] += s["precision"]
            for key in ("title", "date", "author"):
                t[key] += s[key]
            print(
                f"| {page} | {name} | {s['recall']:.3f} | {s['precision']:.3f} | "
                f"{'yes' if s['title'] else 'no'} | {'yes' if s['date'] else 'no'} | "
                f"{'yes' if s['author'] else 'no'} |"
            )
    n = len(results)
    for name, t in totals.items():
        print(
            f"| **mean ({n} pages)** | {name} | {t['recall'] / n:.3f} | {t['precision'] / n:.3f} "
            f"| {t['title']}/{n} | {t['date']}/{n} | {t['author']}/{n} |"
        )


if __name__ == "__main__":
    main()
