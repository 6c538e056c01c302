"""Biased matrix factorisation, and the same model with item priors read from text.

``BiasedMF`` is the standard "SVD" rating model, ``r = mu + b_u + b_i + p_u . q_i``, fitted
by alternating least squares: with the item side fixed every user's ``(b_u, p_u)`` is a
small ridge regression with a closed-form answer, and vice versa.  ALS is deterministic
given the seed, needs no learning rate, and one epoch over 100k ratings takes a fraction of
a second in numpy.  The ridge penalty is the same for every entity (a Gaussian prior), or,
with ``weighted``, grows with the entity's number of ratings (ALS-WR, Zhou et al. 2008);
the plain prior did better on MovieLens validation data, so it is the default.

``TextMF`` keeps that model but changes what an item's parameters shrink towards: instead
of 0, towards ``W e_i``, a linear map of the item's text embedding that is itself learned
(ridge) from the items' fitted parameters after every epoch.  Items with many ratings are
ruled by their ratings; items with few lean on what similar texts taught the model; items
with none (in the catalog but never rated) get ``W e_i`` outright.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shoplm.recommend.rating.base import ItemVectors, Monitor, RatingModel, Ratings
from shoplm.recommend.rating.baselines import known


class BiasedMF(RatingModel):
    """``mu + b_u + b_i + p_u . q_i`` by ALS; ``factors=0`` leaves the bias-only model."""

    name = "mf"
    seeded = True

    def __init__(
        self,
        factors: int = 16,
        reg: float = 15.0,
        reg_bias: float = 2.0,
        epochs: int = 20,
        weighted: bool = False,
        init_std: float = 0.1,
        seed: int = 42,
        **kwargs: Any,
    ) -> None:
        if factors < 0:
            raise ValueError(f"factors must be non-negative, got {factors}")
        if reg <= 0 or reg_bias <= 0:
            raise ValueError("reg and reg_bias must be positive (ALS needs the ridge)")
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        super().__init__(
            factors=int(factors),
            reg=float(reg),
            reg_bias=float(reg_bias),
            epochs=int(epochs),
            weighted=bool(weighted),
            init_std=float(init_std),
            seed=int(seed),
            **kwargs,
        )
        self.mean = 0.0
        self.user_params = np.zeros((0, factors + 1))  # column 0 is the bias
        self.item_params = np.zeros((0, factors + 1))

    # -- training ------------------------------------------------------------------------
    def _fit(
        self,
        data: Ratings,
        item_vectors: ItemVectors | None,
        monitor: Monitor | None,
    ) -> None:
        k = self.params["factors"]
        rng = np.random.default_rng(self.params["seed"])
        n_users, n_items = len(self.user_ids), len(self.item_ids)
        self.mean = float(data.values.mean())
        self.user_params = np.zeros((n_users, k + 1))
        self.item_params = np.zeros((n_items, k + 1))
        self.item_params[:, 1:] = rng.normal(0.0, self.params["init_std"], (n_items, k))
        penalty = np.full(k + 1, self.params["reg"])
        penalty[0] = self.params["reg_bias"]
        by_user = _Groups(data.user_rows, n_users)
        by_item = _Groups(data.item_rows, n_items)
        residual = data.values - self.mean
        self._start(item_vectors)
        for epoch in range(1, self.params["epochs"] + 1):
            self.user_params = self._solve(
                by_user, data.item_rows, self.item_params, residual, penalty, None
            )
            self.item_params = self._solve(
                by_item, data.user_rows, self.user_params, residual, penalty, self._prior()
            )
            self._update_prior(by_item.counts, penalty)
            if self._record(epoch, monitor):
                break

    def _start(self, item_vectors: ItemVectors | None) -> None:
        """Hook for models with item priors; plain MF shrinks towards 0."""

    def _prior(self) -> np.ndarray | None:
        return None

    def _update_prior(self, counts: np.ndarray, penalty: np.ndarray) -> None:
        """Hook: refit the item prior from the new item parameters."""

    def _solve(
        self,
        groups: _Groups,
        other_rows: np.ndarray,
        other: np.ndarray,
        residual: np.ndarray,
        penalty: np.ndarray,
        prior: np.ndarray | None,
    ) -> np.ndarray:
        """Each entity's ``(bias, factors)`` given the other side, as one ridge solve each.

        The other side's bias is moved into the target, and its bias slot is replaced by 1
        so that the solved vector's first entry is this entity's bias.
        """
        k1 = other.shape[1]
        design = other.copy()
        design[:, 0] = 1.0
        target = residual - other[other_rows, 0]
        out = np.zeros((groups.n, k1)) if prior is None else prior.copy()
        systems = np.zeros((groups.n, k1, k1))
        rhs = np.zeros((groups.n, k1))
        for entity, rows in groups:
            x = design[other_rows[rows]]
            scale = len(rows) if self.params["weighted"] else 1.0
            systems[entity] = x.T @ x
            systems[entity][np.diag_indices(k1)] += scale * penalty
            rhs[entity] = x.T @ target[rows]
            if prior is not None:
                rhs[entity] += scale * penalty * prior[entity]
        present = groups.counts > 0
        out[present] = np.linalg.solve(systems[present], rhs[present][..., None])[..., 0]
        return out

    # -- prediction ----------------------------------------------------------------------
    def _predict(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        user = known(self.user_params, user_rows)
        item = known(self.item_params, item_rows)
        return self.mean + user[:, 0] + item[:, 0] + np.einsum("nk,nk->n", user[:, 1:], item[:, 1:])

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "mean": np.array([self.mean]),
            "user_params": self.user_params,
            "item_params": self.item_params,
        }

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean = float(arrays["mean"][0])
        self.user_params, self.item_params = arrays["user_params"], arrays["item_params"]


class TextMF(BiasedMF):
    """Biased MF whose item bias and factors shrink towards a learned map of item text.

    ``text_reg`` is the ridge on the map ``W`` (bigger = blurrier text priors).  Items that
    appear only in ``item_vectors`` (never rated) get ``W e_i``; so do items added later
    with ``add_items``.  Without ``item_vectors`` it is exactly ``BiasedMF``.
    """

    name = "mf-text"
    uses_text = True

    def __init__(self, text_reg: float = 1.0, **kwargs: Any) -> None:
        if text_reg <= 0:
            raise ValueError(f"text_reg must be positive, got {text_reg}")
        super().__init__(text_reg=float(text_reg), **kwargs)
        self.text = np.zeros((0, 0))  # item rows' embeddings
        self.text_map = np.zeros((0, self.params["factors"] + 1))  # W: [dim, factors + 1]

    def _start(self, item_vectors: ItemVectors | None) -> None:
        if item_vectors is None:
            self.text = np.zeros((len(self.item_ids), 0))
            self.text_map = np.zeros((0, self.params["factors"] + 1))
            return
        rows = {item: row for row, item in enumerate(item_vectors.item_ids)}
        dim = item_vectors.vectors.shape[1]
        self.text = np.zeros((len(self.item_ids), dim))
        for row, item in enumerate(self.item_ids):
            if item in rows:
                self.text[row] = item_vectors.vectors[rows[item]]
        self.text_map = np.zeros((dim, self.params["factors"] + 1))

    def _prior(self) -> np.ndarray | None:
        return self.text @ self.text_map if self.text.shape[1] else None

    def _update_prior(self, counts: np.ndarray, penalty: np.ndarray) -> None:
        """Ridge regression of the rated items' parameters on their text.

        Items weigh by how strongly their own prior pulls on them in the item solve
        (their rating count when ``weighted``), so the map fits best where it is used.
        """
        if not self.text.shape[1]:
            return
        rated = counts > 0
        weight = (
            counts[rated].astype(np.float64) if self.params["weighted"] else np.ones(rated.sum())
        )
        x = self.text[rated]
        gram = x.T @ (x * weight[:, None])
        gram[np.diag_indices_from(gram)] += self.params["text_reg"]
        self.text_map = np.linalg.solve(gram, x.T @ (self.item_params[rated] * weight[:, None]))
        unrated = ~rated
        self.item_params[unrated] = self.text[unrated] @ self.text_map

    def add_items(self, item_vectors: ItemVectors) -> list[str]:
        """Make new catalog items predictable from their text alone; returns the added ids.

        Items already known keep their learned parameters.
        """
        if not self.user_ids:
            raise RuntimeError("fit the model before adding items")
        if item_vectors.vectors.shape[1] != self.text_map.shape[0]:
            raise ValueError(
                f"item vectors have {item_vectors.vectors.shape[1]} dimensions, the model's "
                f"text map expects {self.text_map.shape[0]}"
            )
        new = [i for i in item_vectors.item_ids if i not in self._item_index]
        if not new:
            return []
        rows = {item: row for row, item in enumerate(item_vectors.item_ids)}
        text = item_vectors.vectors[[rows[i] for i in new]]
        self.text = np.vstack([self.text, text])
        self.item_params = np.vstack([self.item_params, text @ self.text_map])
        for item in new:
            self._item_index[item] = len(self.item_ids)
            self.item_ids.append(item)
        return new

    def arrays(self) -> dict[str, np.ndarray]:
        return {**super().arrays(), "text": self.text, "text_map": self.text_map}

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        super().set_arrays(arrays)
        self.text, self.text_map = arrays["text"], arrays["text_map"]


class _Groups:
    """Rating rows grouped by entity (user or item), computed once per fit."""

    def __init__(self, rows: np.ndarray, n: int) -> None:
        self.n = n
        self.counts = np.bincount(rows, minlength=n)
        order = np.argsort(rows, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(self.counts)])
        self._slices = [
            (entity, order[bounds[entity] : bounds[entity + 1]])
            for entity in np.flatnonzero(self.counts)
        ]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._slices)
