"""Hyperparameter search on the validation split, never on test.

Each candidate setting is fitted on the training data without each user's newest item and
scored by NDCG@10 (full ranking, seen items excluded) at finding that item; the best
setting is then fitted on all the training data.  Under leave-one-out evaluation the held
out item is the second-to-last of each sequence, the protocol's validation item.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext
from shoplm.recommend.registry import create
from shoplm.recommend.validation import HeldOut, hold_out_last, ndcg_from_ranks, target_ranks

log = logging.getLogger("shoplm")
NOTHING_TO_VALIDATE = "no user has three or more items: nothing to validate on"

# Small grids around each library's usual good values; ALS gets the most room because its
# quality depends most on them (Rendle et al. 2022, "Revisiting the Performance of iALS").
DEFAULT_GRIDS: dict[str, dict[str, list[Any]]] = {
    "als": {
        "factors": [128, 256, 512],
        "regularization": [0.1, 1.0],
        "alpha": [5.0, 20.0, 50.0],
    },
    "itemknn": {"neighbours": [50, 200, 1000], "shrink": [0.0, 10.0, 50.0]},
    "bpr": {"factors": [64, 128], "learning_rate": [0.01, 0.05]},
    # Content: half-lives from "the newest item alone" (0.25: the one before weighs 1/16) to
    # equal weights; on amazon_office both the frozen and a tuned encoder chose the smallest
    # half-life and token weight of the earlier, narrower grid, so it now reaches below them.
    "content": {"half_life": [0.25, 0.5, 1.0, 3.0, 10.0, None], "token_weight": [0.25, 0.5, 2.0]},
}


@dataclass
class TuningResult:
    """The best setting of one model and every setting tried, with its validation NDCG@10."""

    model: str
    best_params: dict[str, Any]
    best_score: float
    trials: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "best_params": self.best_params,
            "valid_ndcg@10": round(self.best_score, 6),
            "trials": self.trials,
        }


def grid_settings(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in a fixed order."""
    for key, values in grid.items():
        if isinstance(values, str) or not isinstance(values, Sequence) or not len(values):
            raise ValueError(f"grid value for {key!r} must be a non-empty list, got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def validation_ndcg(
    model_name: str,
    params: Mapping[str, Any],
    held: HeldOut,
    context: FitContext,
    users: np.ndarray,
    k: int = 10,
) -> float:
    """Fit one setting on the inner data and score NDCG@k of the held-out items."""
    model = create(model_name, **dict(params))
    model.fit(held.inner, context)
    ranks = []
    for start in range(0, len(users), 1024):
        chunk = users[start : start + 1024]
        batch = held.batch(chunk)
        ranks.append(target_ranks(model.score(batch), held.targets[chunk], batch))
    return ndcg_from_ranks(np.concatenate(ranks) if ranks else np.zeros(0), k)


def tune(
    model_name: str,
    data: Interactions,
    context: FitContext,
    grid: Mapping[str, Sequence[Any]] | None = None,
    base_params: Mapping[str, Any] | None = None,
    max_users: int = 5000,
    time_budget_s: float | None = 900.0,
    held: HeldOut | None = None,
) -> TuningResult:
    """Try each setting of ``grid`` (over ``base_params``) and return the best on validation.

    ``max_users`` target users (a seeded sample) are scored per setting; settings left when
    ``time_budget_s`` runs out are skipped (the first always runs) and the result lists the
    ones tried.
    """
    grid = grid if grid is not None else DEFAULT_GRIDS.get(model_name)
    if not grid:
        raise ValueError(f"no tuning grid for {model_name!r}; known: {sorted(DEFAULT_GRIDS)}")
    held = held or hold_out_last(data)
    if not len(held.user_rows):
        raise ValueError(NOTHING_TO_VALIDATE)
    rng = np.random.default_rng(context.seed)
    users = np.sort(rng.permutation(len(held.user_rows))[:max_users])
    started = time.perf_counter()
    best = TuningResult(model_name, dict(base_params or {}), -1.0)
    for setting in grid_settings(grid):
        spent = time.perf_counter() - started
        if best.trials and time_budget_s is not None and spent > time_budget_s:
            log.info("tune %s: time budget spent after %d settings", model_name, len(best.trials))
            break
        params = {**(base_params or {}), **setting}
        began = time.perf_counter()
        score = validation_ndcg(model_name, params, held, context, users)
        best.trials.append(
            {
                "params": setting,
                "valid_ndcg@10": round(score, 6),
                "seconds": round(time.perf_counter() - began, 2),
            }
        )
        log.info("tune %s %s: valid NDCG@10 %.4f", model_name, setting, score)
        if score > best.best_score:
            best.best_score, best.best_params = score, params
    return best
