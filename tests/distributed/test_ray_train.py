"""SASRec trained data-parallel by 2 Ray Train workers learns what comes next in a sequence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shoplm.config import ComputeSettings
from shoplm.distributed.ray_train import SEQUENCE_TRAINER_OPTION, RaySequenceTrainer
from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext
from shoplm.recommend.popularity import Popularity
from shoplm.recommend.sequential import SASRec
from shoplm.recommend.validation import hold_out_last, ndcg_from_ranks, target_ranks

N_ITEMS = 12
TINY = {
    "dim": 16,
    "layers": 1,
    "heads": 2,
    "max_len": 6,
    "dropout": 0.0,
    "lr": 0.01,
    "negatives": 0,
    "batch_size": 16,
    "max_epochs": 25,
    "patience": 25,
    "time_budget_s": None,
    "threads": 1,
}


def walks(n_users: int = 72, length: int = 6) -> list[np.ndarray]:
    """Users walk the catalog in order (item i is followed by i + 1); early items are
    more popular, so popularity is a real baseline, not a random one."""
    rng = np.random.default_rng(0)
    weights = np.linspace(2.0, 1.0, N_ITEMS)
    starts = rng.choice(N_ITEMS, size=n_users, p=weights / weights.sum())
    return [np.array([(s + k) % N_ITEMS for k in range(length)], dtype=np.int64) for s in starts]


def test_two_workers_train_a_model_that_beats_popularity(
    ray_local: Any, interactions_from_histories: Callable[..., Interactions]
) -> None:
    held = hold_out_last(interactions_from_histories(walks(), N_ITEMS))
    batch = held.batch()
    context = FitContext(seed=5)
    context.options[SEQUENCE_TRAINER_OPTION] = RaySequenceTrainer(
        ComputeSettings(backend="ray", num_workers=2)
    )
    model = SASRec(**TINY)
    model.fit(held.inner, context)
    assert {h["workers"] for h in model.history} == {2}
    losses = [h["loss"] for h in model.history]
    assert losses[-1] < 0.5 * losses[0]
    popularity = Popularity()
    popularity.fit(held.inner, FitContext())
    ndcg = {
        name: ndcg_from_ranks(target_ranks(m.score(batch), held.targets, batch))
        for name, m in (("sasrec", model), ("popularity", popularity))
    }
    assert ndcg["sasrec"] > 0.9 > ndcg["popularity"] + 0.3, ndcg
