"""where= filters: equality, any-of, ranges on numbers and dates, on columns per segment."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ragchips import Index
from ragchips.embedding import HashEmbedder
from ragchips.errors import InvalidQuestionError, NoMatchError
from ragchips.filters import parse_where, parse_where_text, value_key
from ragchips.reader import Document


def _doc(i: int, year: int | str, tags: list[str]) -> Document:
    text = f"Rapport annuel numéro {i} sur la puce et les usines."
    return Document(
        f"r{i}",
        f"r{i}.txt",
        f"Rapport {i}",
        text,
        hashlib.sha256(text.encode()).hexdigest(),
        {"year": year, "date": f"{year}-0{1 + i % 9}-15", "tags": tags},
    )


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    docs = [_doc(i, 2015 + i, ["a", "b"] if i % 2 else ["c"]) for i in range(8)]
    out = tmp_path_factory.mktemp("f") / "i"
    idx = Index.build(docs[:5], embedder=HashEmbedder(32), out=out)
    idx.add(docs[5:])  # two segments: columns are per segment
    return idx


def ids(idx: Index, where: dict) -> set[str]:
    return {p.doc_id for p in idx.search("puce usine", k=50, where=where)}


def test_equality_any_of_and_list_fields(index: Index) -> None:
    assert ids(index, {"year": 2017}) == {"r2"}
    assert ids(index, {"year": "2017"}) == {"r2"}  # 2017 matches "2017"
    assert ids(index, {"year": [2015, 2022]}) == {"r0", "r7"}
    assert ids(index, {"tags": "c"}) == {"r0", "r2", "r4", "r6"}
    assert ids(index, {"tags": "a", "year": [2016, 2017, 2018]}) == {"r1", "r3"}
    assert ids(index, {"doc_id": ["r3", "r6"]}) == {"r3", "r6"}
    assert ids(index, {"title": "Rapport 5"}) == {"r5"}


def test_ranges_on_numbers_and_dates(index: Index) -> None:
    assert ids(index, {"year": {"gte": 2020}}) == {"r5", "r6", "r7"}
    assert ids(index, {"year": {"gt": 2016, "lte": 2018}}) == {"r2", "r3"}
    assert ids(index, {"date": {"lt": "2017-01-01"}}) == {"r0", "r1"}
    assert ids(index, parse_where_text(["year>=2020", "tags=c"]) or {}) == {"r6"}
    assert ids(index, parse_where_text(["year<2016"]) or {}) == {"r0"}


def test_deleted_documents_are_filtered_out(tmp_path: Path) -> None:
    idx = Index.build(
        [_doc(i, 2020, ["x"]) for i in range(3)], embedder=HashEmbedder(32), out=tmp_path / "i"
    )
    idx.delete(["r1"])
    assert ids(idx, {"year": 2020}) == {"r0", "r2"}


def test_no_match_and_unknown_fields_are_said(index: Index) -> None:
    with pytest.raises(NoMatchError, match="no document matches"):
        index.search("puce", where={"year": 1990})
    with pytest.raises(InvalidQuestionError, match="no document has a field 'lang'; fields:"):
        index.search("puce", where={"lang": "fr"})


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("year=2020", "must be a mapping"),
        ({"year": {"between": [1, 2]}}, "unknown test 'between'"),
        ({"year": {"gte": [2020]}}, "'gte' on 'year' needs a number or text, not \\[2020\\]"),
        ({"year": {"in": 2020}}, "'in' on 'year' needs a list of values"),
        ({"year": {"in": []}}, "'in' on 'year' lists no value"),
        ({"year": []}, "'year' lists no value"),
        ({"doc_id": ()}, "'doc_id' lists no value"),
        ({"": 1}, "non-empty"),
    ],
)
def test_malformed_filters(where: object, message: str) -> None:
    with pytest.raises(InvalidQuestionError, match=message):
        parse_where(where)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["lang=fr"], {"lang": "fr"}),
        (["lang=fr,en"], {"lang": ["fr", "en"]}),
        (["lang=fr", "lang=en"], {"lang": ["fr", "en"]}),
        (["year>=2020", "year<2024"], {"year": {"gte": 2020, "lt": 2024}}),
        (["date>2024-01-01"], {"date": {"gt": "2024-01-01"}}),
    ],
)
def test_command_line_filters(items: list[str], expected: dict) -> None:
    assert parse_where_text(items) == expected


@pytest.mark.parametrize("bad", ["year", "=2020", "year>=", "year=2020 year>2021"])
def test_bad_command_line_filters(bad: str) -> None:
    items = bad.split(" ")
    with pytest.raises(InvalidQuestionError):
        parse_where_text(items)


def test_value_keys_agree_across_types() -> None:
    assert value_key(2020) == value_key("2020") == value_key(2020.0)
    assert value_key(True) != value_key("True") and value_key(None) == "null"
