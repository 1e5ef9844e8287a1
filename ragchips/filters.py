"""``where=`` filters on document fields, evaluated on precomputed columns.

Why columns: a filter must cost about as much as the search it restricts, at any size, so
no Python loop over documents runs per question. Each segment stores, per field, an inverted
index of its values (sorted value keys, each with the sorted list of documents holding it);
a condition picks keys (equal, one of, or in a range) and unions their document lists.

Values compare as before: ``2020`` matches ``"2020"``; a list field matches if any of its
items does. Ranges (``{"year": {"gte": 2020}}``, ``--where "year>=2020"``) compare numbers
as numbers and anything else as text, which orders ISO dates (``"2024-03-01"``) correctly.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidQuestionError

__all__ = [
    "BUILTIN_FIELDS",
    "Condition",
    "FieldColumn",
    "build_columns",
    "parse_where",
    "parse_where_text",
    "value_key",
]

Where = dict[str, Any]
BUILTIN_FIELDS = ("doc_id", "source", "title")
RANGE_OPS = ("gt", "gte", "lt", "lte")
_TEXT_OPS = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt", "=": "eq", "==": "eq"}


def value_key(value: Any) -> str:
    """The text a value is compared by: ``2020``, ``2020.0`` and ``"2020"`` agree."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(float(value)) else None
    try:
        x = float(str(value))
    except ValueError:
        return None
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Condition:
    """One field's test: ``keys`` (any of) or a range (``op``, ``bound``) pairs."""

    field: str
    keys: tuple[str, ...] = ()
    ranges: tuple[tuple[str, Any], ...] = ()


def parse_where(where: Any) -> list[Condition]:
    """Check and normalise a ``where`` mapping; raise a one-line error when malformed."""
    if not where:
        return []
    if not isinstance(where, dict):
        raise InvalidQuestionError("where must be a mapping of field names to values")
    out = []
    for name, wanted in where.items():
        if not isinstance(name, str) or not name:
            raise InvalidQuestionError("where: field names must be non-empty text")
        if isinstance(wanted, dict):
            ranges = []
            keys: tuple[str, ...] = ()
            for op, bound in wanted.items():
                if op == "eq":
                    keys = (value_key(bound),)
                elif op == "in" and isinstance(bound, list | tuple):
                    keys = tuple(value_key(v) for v in bound)
                elif (
                    op in RANGE_OPS
                    and isinstance(bound, int | float | str)
                    and not isinstance(bound, bool)
                ):
                    ranges.append((op, bound))
                elif op in RANGE_OPS:
                    raise InvalidQuestionError(
                        f"where: {op!r} on {name!r} needs a number or text, not {bound!r}"
                    )
                elif op == "in":
                    raise InvalidQuestionError(
                        f"where: 'in' on {name!r} needs a list of values, not {bound!r}"
                    )
                else:
                    raise InvalidQuestionError(
                        f"where: unknown test {op!r} on {name!r}: use eq, in, gt, gte, lt, lte "
                        "with a number or text"
                    )
                if op == "in" and not keys:
                    raise InvalidQuestionError(f"where: 'in' on {name!r} lists no value")
            out.append(Condition(name, keys, tuple(ranges)))
        elif isinstance(wanted, list | tuple | set | frozenset):
            if not wanted:
                # "any of no value" matches no document; reading it as "any value" would
                # quietly drop the filter.
                raise InvalidQuestionError(f"where: {name!r} lists no value")
            out.append(Condition(name, tuple(value_key(v) for v in wanted)))
        else:
            out.append(Condition(name, (value_key(wanted),)))
    return out


_TEXT_RE = re.compile(r"^\s*([^<>=!\s]+)\s*(>=|<=|==|=|>|<)\s*(.*?)\s*$")


def parse_where_text(items: list[str]) -> Where | None:
    """``--where`` options: ``field=value`` (repeat a field for any of), ``year>=2020``."""
    if not items:
        return None
    where: Where = {}
    for item in items:
        m = _TEXT_RE.match(item)
        if not m or not m.group(3):
            raise InvalidQuestionError(
                f"--where {item!r}: write field=value, or field>=value (>, <, <=)"
            )
        name, op, raw = m.group(1), _TEXT_OPS[m.group(2)], m.group(3)
        value: Any = raw
        if op != "eq":
            num = _number(raw)
            value = int(num) if num is not None and num.is_integer() else (num if num else raw)
            if num is None:
                value = raw
            current = where.setdefault(name, {})
            if not isinstance(current, dict):
                raise InvalidQuestionError(f"--where: {name!r} is both equal to and compared")
            current[op] = value
        else:
            if "," in raw:  # field=a,b: any of
                value = [v.strip() for v in raw.split(",")]
            current = where.get(name)
            if current is None:
                where[name] = value
            elif isinstance(current, list):
                current.extend(value if isinstance(value, list) else [value])
            elif isinstance(current, dict):
                raise InvalidQuestionError(f"--where: {name!r} is both equal to and compared")
            else:
                where[name] = [current, *(value if isinstance(value, list) else [value])]
    return where


def _doc_values(doc: dict[str, Any], name: str) -> list[Any]:
    if name in BUILTIN_FIELDS:
        return [doc.get(name)]
    if name not in (doc.get("metadata") or {}):
        return []
    value = doc["metadata"][name]
    return list(value) if isinstance(value, list) else [value]


class FieldColumn:
    """One field of one segment: value keys, their numbers, and their documents."""

    def __init__(self, keys: list[str], indptr: np.ndarray, docs: np.ndarray) -> None:
        self.keys = keys
        self.indptr = indptr
        self.docs = docs
        self.numbers = np.asarray(
            [n if (n := _number(k)) is not None else np.nan for k in keys], dtype=np.float64
        )
        self._position = {k: i for i, k in enumerate(keys)}

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "keys.json").write_text(json.dumps(self.keys, ensure_ascii=False), "utf-8")
        np.save(folder / "indptr.npy", self.indptr, allow_pickle=False)
        np.save(folder / "docs.npy", self.docs, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> FieldColumn:
        keys = json.loads((folder / "keys.json").read_text("utf-8"))
        indptr = np.load(folder / "indptr.npy", mmap_mode="r", allow_pickle=False)
        docs = np.load(folder / "docs.npy", mmap_mode="r", allow_pickle=False)
        if not isinstance(keys, list) or len(indptr) != len(keys) + 1:
            raise ValueError(f"{folder}: field keys and documents disagree")
        return cls(keys, indptr, docs)

    def matching_docs(self, cond: Condition, n_docs: int) -> np.ndarray:
        """Boolean mask of the segment's documents that satisfy ``cond``."""
        picked = np.zeros(len(self.keys), dtype=bool)
        if cond.keys:
            for k in cond.keys:
                i = self._position.get(k)
                if i is not None:
                    picked[i] = True
        else:
            picked[:] = True
        for op, bound in cond.ranges:
            num = _number(bound)
            if num is not None:
                ok = _compare(self.numbers, op, num)
            else:
                text = np.asarray(self.keys, dtype=object)
                b = str(bound)
                ok = np.fromiter(
                    ({"gt": k > b, "gte": k >= b, "lt": k < b, "lte": k <= b}[op] for k in text),
                    dtype=bool,
                    count=len(text),
                )
            picked &= ok
        mask = np.zeros(n_docs, dtype=bool)
        for j in np.flatnonzero(picked):
            mask[self.docs[int(self.indptr[j]) : int(self.indptr[j + 1])]] = True
        return mask


def _compare(values: np.ndarray, op: str, bound: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if op == "gt":
            return values > bound
        if op == "gte":
            return values >= bound
        if op == "lt":
            return values < bound
        return values <= bound


def build_columns(docs: list[dict[str, Any]]) -> dict[str, FieldColumn]:
    """Every field of these documents as an inverted index of its values."""
    # doc_id is looked up through the segment's id hashes, not a column.
    names = {"source", "title"}
    for d in docs:
        names.update((d.get("metadata") or {}).keys())
    out = {}
    for name in sorted(names):
        by_key: dict[str, list[int]] = {}
        for i, d in enumerate(docs):
            for v in _doc_values(d, name):
                by_key.setdefault(value_key(v), []).append(i)
        keys = sorted(by_key)
        indptr = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum([len(set(by_key[k])) for k in keys], out=indptr[1:])
        flat = [i for k in keys for i in sorted(set(by_key[k]))]
        out[name] = FieldColumn(keys, indptr, np.asarray(flat, dtype=np.int32))
    return out
