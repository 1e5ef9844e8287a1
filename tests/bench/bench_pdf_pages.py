"""Page accuracy of PDF passages, on generated PDFs whose every line names its page.

    python tests/bench/bench_pdf_pages.py

For PDFs of several sizes and line lengths (tests/pdfgen.py writes them by hand), every
passage the default chunker makes is checked: its page (from the document's page offsets)
against the page named by its own first line, and its text against the stored document
text at [start:end]. The hash-384 stand-in embedder keeps it quick (pages do not depend on
the embedder).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pdfgen import write_pdf  # noqa: E402
from test_formats import expected_page, report_pages  # noqa: E402

from ragchips import Index  # noqa: E402


def main() -> None:
    print("| PDF | pages | passages | page right | span exact |")
    print("|---|---|---|---|---|")
    total = right_total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n_pages, lines in ((3, 4), (12, 18), (40, 30), (100, 8)):
            path = write_pdf(Path(tmp) / f"r{n_pages}.pdf", report_pages(n_pages, lines))
            index = Index.build([path], embedder="hash-384")
            doc = index.document(path.stem)
            passages = [index.passage(row) for row in range(len(index))]
            right = sum(p.page == expected_page(p.text) for p in passages)
            exact = sum(doc.text[p.start : p.end] == p.text for p in passages)
            total += len(passages)
            right_total += right
            print(
                f"| {n_pages} pages x {lines} lines | {n_pages} | {len(passages)} "
                f"| {right}/{len(passages)} | {exact}/{len(passages)} |"
            )
    print(f"page accuracy: {right_total}/{total} = {right_total / total:.3f}")


if __name__ == "__main__":
    main()
