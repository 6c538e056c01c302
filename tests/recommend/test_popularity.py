"""Popularity: one list for everyone, ranked by (optionally time-decayed) distinct users."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, UserBatch
from shoplm.recommend.popularity import Popularity
from shoplm.store.base import EventColumns


def _data(rows: list[tuple[str, str, float]], items: list[str]) -> Interactions:
    n = len(rows)
    columns = EventColumns(
        user_ids=np.array([r[0] for r in rows], dtype=object),
        item_ids=np.array([r[1] for r in rows], dtype=object),
        types=np.array(["view"] * n, dtype=object),
        values=np.full(n, np.nan),
        timestamps=np.array([r[2] for r in rows], dtype=np.float64),
        session_ids=np.array([""] * n, dtype=object),
    )
    return Interactions.from_events(columns, items)


DAY = 86400.0
# 'old' was taken by three users 100 days ago, 'new' by two users today, 'none' by nobody.
ROWS = [("u1", "old", 0.0), ("u2", "old", 0.0), ("u3", "old", 0.0), ("u3", "old", 0.0)]
ROWS += [("u4", "new", 100 * DAY), ("u5", "new", 100 * DAY)]
ITEMS = ["none", "old", "new"]


def test_ranks_by_distinct_users_for_everyone() -> None:
    model = Popularity()
    model.fit(_data(ROWS, ITEMS), FitContext())
    histories = [np.array([1]), np.array([], dtype=np.int64), np.array([2, 2])]
    batch = UserBatch(np.array([0, -1, 4]), histories)
    scores = model.score(batch)
    assert scores.shape == (3, 3) and scores.dtype == np.float32
    assert np.array_equal(scores[0], scores[1]) and np.array_equal(scores[0], scores[2])
    assert np.allclose(scores[0], np.log1p([0.0, 3.0, 2.0]))  # u3's repeat counts once
    assert model.n_items == 3


def test_half_life_prefers_what_is_popular_now() -> None:
    model = Popularity(half_life_days=10.0)
    model.fit(_data(ROWS, ITEMS), FitContext())
    scores = model.score(UserBatch(np.array([-1]), [np.array([], dtype=np.int64)]))[0]
    assert scores[2] > scores[1] > scores[0] == 0.0
    assert np.isclose(scores[1], np.log1p(3 * 0.5**10))


def test_similar_items_is_the_popular_list() -> None:
    model = Popularity()
    model.fit(_data(ROWS, ITEMS), FitContext())
    assert np.array_equal(model.similar_items(0), model.item_scores)


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = Popularity(half_life_days=7.0)
    model.fit(_data(ROWS, ITEMS), FitContext())
    model.save(tmp_path / "pop")
    loaded = Popularity.load(tmp_path / "pop")
    assert loaded.half_life_days == 7.0 and loaded.n_items == 3
    batch = UserBatch(np.array([-1, 0]), [np.array([], dtype=np.int64), np.array([1])])
    assert np.array_equal(loaded.score(batch), model.score(batch))


def test_scoring_returns_a_writable_copy() -> None:
    model = Popularity()
    model.fit(_data(ROWS, ITEMS), FitContext())
    scores = model.score(UserBatch(np.array([-1]), [np.array([1])]))
    scores[0, 1] = -np.inf  # the engine masks seen items in place
    assert np.isfinite(model.item_scores).all()
