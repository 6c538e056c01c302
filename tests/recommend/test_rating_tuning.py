"""Hyperparameters of rating models are chosen on validation ratings."""

from __future__ import annotations

import numpy as np
import pytest

from shoplm.recommend.rating import BiasedMF, tune_model
from shoplm.recommend.rating.tuning import grid_points


def _triples(seed: int, n_users: int = 40, n_items: int = 30):
    rng = np.random.default_rng(seed)
    user = rng.normal(0, 0.8, (n_users, 2))
    item = rng.normal(0, 0.8, (n_items, 2))
    rows, cols = np.nonzero(rng.random((n_users, n_items)) < 0.5)
    values = np.clip(3 + np.einsum("nk,nk->n", user[rows], item[cols]), 1, 5)
    return [f"u{r}" for r in rows], [f"i{c}" for c in cols], values


def _halves(triples):
    n = len(triples[2])
    cut = int(0.8 * n)
    order = np.random.default_rng(9).permutation(n)
    pick = [order[:cut], order[cut:]]
    return [tuple(np.asarray(part)[rows] for part in triples) for rows in pick]


def test_grid_points_cover_every_combination():
    points = grid_points({"b": [1, 2], "a": ["x", "y", "z"]})
    assert len(points) == 6
    assert points[0] == {"a": "x", "b": 1}
    assert {(p["a"], p["b"]) for p in points} == {(a, b) for a in "xyz" for b in (1, 2)}
    with pytest.raises(ValueError, match="'a'"):
        grid_points({"a": []})


def test_tuning_picks_the_lowest_validation_rmse_and_its_epoch():
    train, valid = _halves(_triples(0))
    grid = {"factors": [0, 2], "reg": [0.5, 200.0]}
    result = tune_model("mf", train, valid, grid=grid, max_epochs=12, seed=3)
    assert len(result.trials) == 4
    best = min(result.trials, key=lambda t: t["rmse"])
    assert result.params == best["params"]
    assert result.params["factors"] == 2 and result.params["reg"] == 0.5
    assert result.params["seed"] == 3
    assert 1 <= result.params["epochs"] <= 12
    # The chosen epoch count reproduces the trial's validation score when refitted.
    refit = BiasedMF(**result.params).fit(*train)
    error = refit.predict(*valid[:2]) - valid[2]
    assert np.sqrt(np.mean(error**2)) == pytest.approx(best["rmse"], abs=1e-6)
    assert result.as_dict()["model"] == "mf"


def test_models_without_a_grid_or_name_are_handled():
    train, valid = _halves(_triples(1))
    result = tune_model("global-mean", train, valid)
    assert result.params == {}
    assert len(result.trials) == 1
    with pytest.raises(ValueError, match="unknown rating model 'svd'"):
        tune_model("svd", train, valid)
