"""The committed index of seeds/ is what the current code would build from seeds/."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ragchips import Index, default_index_path
from ragchips.calibration import auto_calibrate

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_committed_index_is_up_to_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    committed = Index.load(default_index_path())
    assert default_index_path().resolve() == (ROOT / "indexes" / "seeds").resolve()
    monkeypatch.chdir(ROOT)  # sources are recorded as given: seeds/NAME.txt
    fresh = Index.build([Path("seeds")])
    old_m, new_m = committed.manifest, fresh.manifest
    hint = "rebuild it: ragchips index seeds --out indexes/seeds --full"
    assert committed._doc_hashes() == fresh._doc_hashes(), f"seeds/ changed; {hint}"
    assert old_m["chunker"] == new_m["chunker"], f"chunker settings changed; {hint}"
    # `ragchips index` calibrates found on the collection itself (Index.build does not): the
    # committed calibration is what that derives, up to float noise between machines.
    old_cal, new_cal = committed.calibration, auto_calibrate(fresh)
    assert old_cal.method == new_cal.method and old_cal.passages == new_cal.passages, hint
    weights = ("coverage", "rare", "agree")
    assert [getattr(old_cal, w) for w in weights] == [getattr(new_cal, w) for w in weights], hint
    for name in ("threshold", "threshold_en", "scale"):
        assert abs(getattr(old_cal, name) - getattr(new_cal, name)) < 2e-3, f"{name}; {hint}"
    # The bulk engine (torch fp32, ONNX int8...) is recorded but may differ by machine.
    emb_old = {k: v for k, v in old_m["embedder"].items() if k not in ("probe", "engine")}
    emb_new = {k: v for k, v in new_m["embedder"].items() if k not in ("probe", "engine")}
    assert emb_old == emb_new, f"embedder changed; {hint}"
    assert [(p.doc_id, p.start, p.end) for p in committed.passages] == [
        (p.doc_id, p.start, p.end) for p in fresh.passages
    ], f"chunking changed; {hint}"
    assert [d.title for d in committed.documents] == [d.title for d in fresh.documents]
    # Same vectors, up to float noise between machines and engines (int8 ONNX against
    # torch fp32: the engine's own quality gate, ragchips.e5_onnx.MIN_COSINE).
    old_v = np.concatenate([np.asarray(s.dense.vectors) for s in committed.segments])
    new_v = np.concatenate([np.asarray(s.dense.vectors) for s in fresh.segments])
    cos = np.sum(old_v * new_v, axis=1)
    assert cos.min() > 0.995, f"passage vectors differ; {hint}"


def test_committed_index_cites_the_files_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the folder the index was built from
    idx = Index.load(default_index_path())
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    assert sorted(Path(d.source) for d in idx.iter_documents()) == seeds
    m = json.loads((default_index_path() / "manifest.json").read_text(encoding="utf-8"))
    assert m["counts"]["documents"] == len(seeds)


def test_the_readme_first_question_opens_with_the_maker_on_the_bundled_index() -> None:
    # The README's first example, as a new user runs it: on the committed index, whose
    # vectors come from the bulk engine (tests elsewhere build theirs with the query engine).
    from ragchips import ask

    for k in (1, 5):
        a = ask("qui fabrique la puce ?", k=k)
        assert a.found and a.claims, k
        assert a.answer.startswith(" ".join(a.claims[0].text.split())), k
        assert "TSMC" in (a.claims[0].phrase or ""), (k, a.claims[0].text)
