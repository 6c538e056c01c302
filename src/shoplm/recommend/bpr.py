"""BPR: matrix factorisation trained to rank a user's items above the rest, via ``implicit``.

Optimises the pairwise ranking loss directly (Rendle et al. 2009), which often suits
top-N lists better than ALS's squared error; kept as a second factor model to blend.

``implicit``'s BPR appends a bias: item factors have ``factors + 1`` columns, the last
being the item bias, and every user factor's last column is fixed at 1, so
``user_factors @ item_factors.T`` already includes the bias.  Fitting with more than one
thread is lock-free SGD and so not reproducible run to run, so the default is one thread
(same seed, same factors); pass ``num_threads=0`` (all cores) when speed matters more.
"""

from __future__ import annotations

import numpy as np
from implicit.cpu.bpr import BayesianPersonalizedRanking

from shoplm.recommend.als import FactorModel
from shoplm.recommend.base import UserBatch
from shoplm.recommend.itemknn import history_matrix


class BPR(FactorModel):
    """Bayesian Personalised Ranking.

    BPR has no closed form for a new user, so a user outside the training data gets the
    mean of their history items' factors (bias column excluded, the user's bias weight set
    to 1 as for trained users): items close to what they took rank first.  A user with no
    history gets a zero factor and so all-zero scores, as in the other personal models;
    cold users are the popularity model's job.
    """

    name = "bpr"
    solver = BayesianPersonalizedRanking

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        num_threads: int = 1,
    ) -> None:
        if factors < 1 or iterations < 1:
            raise ValueError("factors and iterations must be at least 1")
        if learning_rate <= 0 or regularization < 0:
            raise ValueError("learning_rate must be > 0 and regularization >= 0")
        super().__init__(
            factors=factors,
            learning_rate=learning_rate,
            regularization=regularization,
            iterations=iterations,
            num_threads=num_threads,
        )

    def unknown_user_factors(self, batch: UserBatch) -> np.ndarray:
        history = history_matrix(batch, self.n_items)
        totals = np.asarray(history.sum(axis=1)).ravel()
        history = history.multiply(1.0 / np.maximum(totals, 1e-12)[:, None]).tocsr()
        factors = np.asarray(history @ self.item_factors, dtype=np.float32)
        factors[:, -1] = (totals > 0).astype(np.float32)
        return factors
