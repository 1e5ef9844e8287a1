from __future__ import annotations

import pytest

from ragchips.calibration import DEFAULT, Calibration, derive, english_share


def test_english_share_ignores_french_homographs() -> None:
    assert english_share("Qui a fondé Nvidia ? On ne sait pas.") == 0.0
    assert english_share("Who is the CEO of AMD?") == pytest.approx(4 / 6)  # who is the of
    assert english_share("") == 0.0


def test_found_rule() -> None:
    cal = Calibration(threshold=0.85, lang_bonus=0.1)
    assert cal.found(0.86, "qui fabrique la puce ?")
    assert not cal.found(0.84, "qui fabrique la puce ?")
    assert cal.found(0.84, "who makes the chip?")  # the cross-language bonus


def test_round_trip_and_unknown_method() -> None:
    cal = Calibration(threshold=0.8, lang_bonus=0.05)
    assert Calibration.from_dict(cal.to_dict()) == cal
    assert Calibration.from_dict(None) == DEFAULT
    for bad in ({"method": "other"}, {"method": "dense+lang"}, "x"):
        with pytest.raises(ValueError):
            Calibration.from_dict(bad)


def test_derive_keeps_recall_and_rejects_most() -> None:
    answerable = [(0.90, "q"), (0.88, "q"), (0.87, "q"), (0.86, "q"), (0.83, "who is the q")]
    off = [(0.80, "x"), (0.82, "x"), (0.85, "x"), (0.78, "who is x")]
    cal, recall, rejected = derive(answerable, off, min_recall=0.8)
    assert cal.found(0.86, "q") and not cal.found(0.80, "x")
    assert recall >= 0.8
    assert rejected >= 0.75
    with pytest.raises(ValueError):
        derive([], off)
