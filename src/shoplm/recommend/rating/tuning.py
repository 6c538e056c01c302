"""Choosing a rating model's hyperparameters on validation ratings, never on test ones.

Every grid point is fitted on the training part with the validation ratings scored after
each epoch; the point's score is its best epoch's validation RMSE, and that epoch count is
kept as the ``epochs`` parameter.  The caller refits the winner on all its training data.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shoplm.recommend.rating.base import DEFAULT_SCALE, ItemVectors
from shoplm.recommend.rating.registry import RATING_MODELS

Triples = tuple[Sequence[Any], Sequence[Any], Sequence[float]]

# Small on purpose: each point is a full fit.  Ranges come from MovieLens-100k validation
# runs (more than 32 factors did not help; the best ridge was 10-20 ratings' worth, and a
# smaller one overfits within a few ALS epochs).
DEFAULT_GRIDS: dict[str, dict[str, list[Any]]] = {
    "global-mean": {},
    "bias": {"reg_user": [2.0, 5.0, 10.0], "reg_item": [1.0, 2.0, 5.0]},
    "mf": {"factors": [16, 32], "reg": [10.0, 15.0, 20.0], "reg_bias": [2.0]},
    "mf-text": {"factors": [16, 32], "reg": [10.0, 15.0, 20.0], "text_reg": [3.0, 10.0]},
}
MAX_EPOCHS = {"bias": 10, "mf": 50, "mf-text": 50}
PATIENCE = 3


@dataclass
class TuningResult:
    """The chosen parameters (with the best epoch count) and every trial's score."""

    model: str
    params: dict[str, Any]
    trials: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "params": self.params,
            "trials": self.trials,
            "seconds": round(self.seconds, 2),
        }


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in a fixed order."""
    names = sorted(grid)
    for name in names:
        if isinstance(grid[name], str) or not len(grid[name]):
            raise ValueError(f"grid entry {name!r} must be a non-empty list of values")
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(grid[n] for n in names))
    ]


def tune_model(
    model: str,
    train: Triples,
    valid: Triples,
    grid: Mapping[str, Sequence[Any]] | None = None,
    item_vectors: ItemVectors | None = None,
    max_epochs: int | None = None,
    patience: int = PATIENCE,
    scale: Sequence[float] = DEFAULT_SCALE,
    seed: int = 42,
) -> TuningResult:
    """Fit ``model`` at every grid point on ``train``; pick the lowest validation RMSE."""
    if model not in RATING_MODELS:
        raise ValueError(f"unknown rating model {model!r}; choose from {sorted(RATING_MODELS)}")
    cls = RATING_MODELS[model]
    grid = DEFAULT_GRIDS.get(model, {}) if grid is None else grid
    epochs = max_epochs or MAX_EPOCHS.get(model)
    started = time.perf_counter()
    trials: list[dict[str, Any]] = []
    for point in grid_points(grid):
        params = dict(point)
        if epochs is not None:
            params["epochs"] = epochs
        if cls.seeded:
            params["seed"] = seed
        began = time.perf_counter()
        fitted = cls(scale=scale, **params).fit(
            *train, item_vectors=item_vectors, valid=valid, patience=patience
        )
        best = min(fitted.history, key=lambda h: h["rmse"])
        if epochs is not None:
            params["epochs"] = max(int(best["epoch"]), 1)
        trials.append(
            {
                "params": params,
                "rmse": round(best["rmse"], 6),
                "mae": round(best["mae"], 6),
                "epochs_run": len(fitted.history),
                "seconds": round(time.perf_counter() - began, 2),
            }
        )
    chosen = min(trials, key=lambda t: t["rmse"])
    return TuningResult(model, dict(chosen["params"]), trials, time.perf_counter() - started)
