import json
from pathlib import Path

import numpy as np
import pytest

from ragchips.lexical import FIELDS, FieldPostings, build_postings
from ragchips.vocabulary import Vocabulary

TERMS = ["puce", "tsmc", "élysée", "2024", "", "naïf"]


def test_every_term_finds_its_column_and_others_find_none(tmp_path: Path) -> None:
    v = Vocabulary.from_terms(TERMS)
    v.save(tmp_path)
    loaded = Vocabulary.load(tmp_path)
    for vocab in (v, loaded):
        assert [vocab.get(t) for t in TERMS] == list(range(len(TERMS)))
        assert vocab.get("puces") is None and vocab.get("elysee") is None
        assert list(vocab) == TERMS and len(vocab) == len(TERMS)


def test_a_hash_collision_never_gives_another_terms_column() -> None:
    v = Vocabulary.from_terms(["a", "b"])
    # Force both terms onto one hash: the bytes still decide.
    hashes = np.array([v._hashes[0], v._hashes[0]], dtype=np.uint64)
    forced = Vocabulary(v._blob, v._offsets, hashes, np.array([1, 0]))
    assert forced.get("a") == 0 and forced.get("b") is None  # "b" now hashes elsewhere
    same = Vocabulary(v._blob, v._offsets, hashes, np.array([0, 1]))
    assert same.get("a") == 0


def test_a_field_saved_before_these_files_still_loads(tmp_path: Path) -> None:
    p = build_postings(["la puce de TSMC", "le festival"], FIELDS["stems"][0])
    p.save(tmp_path)
    for name in ("terms.bin", "terms.offsets.npy", "terms.hash.npy", "terms.col.npy"):
        (tmp_path / name).unlink()
    (tmp_path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(p.vocab)}))
    old = FieldPostings.load(tmp_path)
    assert list(old.vocab) == list(p.vocab)
    assert old.postings("puc") is not None


def test_arrays_that_disagree_are_refused(tmp_path: Path) -> None:
    Vocabulary.from_terms(TERMS).save(tmp_path)
    np.save(tmp_path / "terms.col.npy", np.arange(2))
    with pytest.raises(ValueError, match="vocabulary arrays disagree"):
        Vocabulary.load(tmp_path)
