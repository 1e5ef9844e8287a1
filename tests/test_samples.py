"""examples/data holds generated sample files: they match their generator and read as expected."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from samples import COUNCIL_PAGES, SAMPLES, write_samples

from ragchips.reader import read_document


def test_samples_are_what_the_generator_writes(tmp_path: Path) -> None:
    if os.environ.get("RAGCHIPS_WRITE_SAMPLES"):
        write_samples()
    for fresh in write_samples(tmp_path):
        committed = SAMPLES / fresh.name
        assert committed.read_bytes() == fresh.read_bytes(), (
            f"{committed} is stale: RAGCHIPS_WRITE_SAMPLES=1 pytest tests/test_samples.py"
        )


def test_council_pdf_pages() -> None:
    doc = read_document(SAMPLES / "conseil-municipal.pdf")
    assert len(doc.metadata["pages"]) == len(COUNCIL_PAGES) == 4
    for (start, end), lines in zip(doc.metadata["pages"], COUNCIL_PAGES):
        assert doc.text[start:end] == "\n".join(lines).strip()
