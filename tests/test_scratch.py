import threading

import numpy as np

from ragchips import scratch
from ragchips.lexical import FIELDS, build_postings, score_field

TEXTS = ["la puce d'OpenAI", "TSMC fabrique la puce", "le festival des lanternes", "puce puce"]


def test_group_is_unique_with_inverse_whatever_the_stale_stamps() -> None:
    rng = np.random.default_rng(0)
    for _ in range(30):
        values = rng.integers(0, 50, size=rng.integers(0, 80))
        rows, slots = scratch.group(values, 50)
        assert sorted(rows.tolist()) == sorted(set(values.tolist()))
        assert len(slots) == len(values)
        assert np.array_equal(rows[slots], values)  # each entry points at its own value


def test_lookup_finds_only_the_numbered_keys() -> None:
    scratch.number(np.array([7, 3, 9]), 20)
    scratch.number(np.array([4, 8]), 20)  # stale slots for 7, 3, 9 remain in the stamp
    got = scratch.lookup(np.array([4, 8]), np.array([8, 7, 4, 3, 9, 0]), 20)
    assert got.tolist() == [1, -1, 0, -1, -1, -1]


def test_scoring_twice_gives_the_same_scores() -> None:
    p = build_postings(TEXTS, FIELDS["stems"][0])
    first = score_field("puce fabrique festival", "stems", [p], [None], len(TEXTS), 12.0)
    scratch.number(np.array([3, 0]), len(TEXTS))  # another user of the stamp in between
    again = score_field("puce fabrique festival", "stems", [p], [None], len(TEXTS), 12.0)
    assert sorted(first.rows[0].tolist()) == [0, 1, 2, 3]
    assert first.rows[0].tolist() == again.rows[0].tolist()
    assert np.array_equal(first.scores[0], again.scores[0])


def test_each_thread_has_its_own_stamp() -> None:
    seen: list[np.ndarray] = []

    def run() -> None:
        seen.append(scratch._stamp(10))  # kept alive, so no id is reused

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mine = scratch._stamp(10)
    assert len({id(a) for a in [*seen, mine]}) == 3
