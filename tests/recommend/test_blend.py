"""Blend: per-user standardised scores, weighted and summed, with per-model parts."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, Recommender, UserBatch
from shoplm.recommend.blend import blend, standardise
from shoplm.recommend.registry import create


class Fixed(Recommender):
    """A stand-in model that returns the same score rows for any batch."""

    name: ClassVar[str] = "fixed"

    def __init__(self, rows: np.ndarray) -> None:
        super().__init__()
        self.rows = np.asarray(rows, dtype=np.float32)
        self.n_items = self.rows.shape[1]

    def fit(self, data: Interactions, context: FitContext) -> None:  # pragma: no cover
        raise NotImplementedError

    def score(self, batch: UserBatch) -> np.ndarray:
        return self.rows[: len(batch)].copy()

    def arrays(self) -> dict[str, np.ndarray]:  # pragma: no cover
        return {"rows": self.rows}

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:  # pragma: no cover
        self.rows = arrays["rows"]


def _batch(n: int) -> UserBatch:
    return UserBatch(np.full(n, -1), [np.array([0])] * n)


def test_standardise_rows() -> None:
    scores = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]], dtype=np.float32)
    result = standardise(scores)
    assert result.dtype == np.float32
    assert np.allclose(result[0].mean(), 0.0) and np.isclose(result[0].std(), 1.0)
    assert np.allclose(result[0], [-1.2247449, 0.0, 1.2247449])
    assert not result[1].any()  # a constant row carries no signal


def test_scale_of_a_model_does_not_matter() -> None:
    small = Fixed([[0.1, 0.2, 0.3, 0.0]])
    huge = Fixed([[300.0, 0.0, 100.0, 200.0]])
    total, parts = blend({"small": small, "huge": huge}, {"small": 1.0, "huge": 1.0}, _batch(1))
    assert np.allclose(parts["small"], standardise(small.rows))
    assert np.allclose(parts["huge"], standardise(huge.rows))
    assert np.allclose(total, parts["small"] + parts["huge"])
    scaled = Fixed(huge.rows * 1000)
    again, _ = blend({"small": small, "huge": scaled}, {"small": 1.0, "huge": 1.0}, _batch(1))
    assert np.allclose(total, again, atol=1e-5)


def test_weights_scale_parts_and_zero_or_missing_models_are_skipped() -> None:
    models = {"a": Fixed([[1.0, 0.0, 0.0]]), "b": Fixed([[0.0, 0.0, 1.0]])}
    total, parts = blend(models, {"a": 2.0, "b": 0.5, "off": 1.0, "zero": 0.0}, _batch(1))
    assert set(parts) == {"a", "b"}
    assert np.allclose(parts["a"], 2.0 * standardise(models["a"].rows))
    assert int(np.argmax(total[0])) == 0
    _, only_b = blend(models, {"a": 0.0, "b": 1.0}, _batch(1))
    assert set(only_b) == {"b"}


def test_no_usable_model_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"none of the blend's models \['x', 'y'\] is fitted"):
        blend({"a": Fixed([[1.0, 0.0]])}, {"y": 1.0, "x": 1.0}, _batch(1))


def test_blend_of_real_models_keeps_the_group_structure(
    two_groups: Interactions,
    context: FitContext,
    all_users: UserBatch,
    as_unknown: UserBatch,
    training_groups: list[int],
    groups,
) -> None:
    models = {name: create(name) for name in ("popularity", "itemknn", "content")}
    for model in models.values():
        model.fit(two_groups, context)
    weights = {"itemknn": 1.0, "content": 1.0, "popularity": 0.1}
    total, parts = blend(models, weights, all_users)
    assert total.shape == (len(all_users), groups.n_items)
    assert set(parts) == set(weights)
    assert groups.misranked(total, training_groups, all_users.histories) == []
    unknown_total, _ = blend(models, weights, as_unknown)
    assert groups.misranked(unknown_total, training_groups, as_unknown.histories) == []
