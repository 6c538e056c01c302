"""A small learned ranker: one weight per candidate feature, fitted on graded query lists.

Why linear: the features (see :mod:`shoplm.search.features`) already carry the non-linear
work, a dot product over a few hundred candidates costs microseconds, and the weights fit in
a readable JSON file that a shop owner can inspect.

Fitting minimises the ListNet loss (Cao et al., 2007): per query, the cross-entropy between
the softmax of the model's scores and the gains normalised to sum to one, so the model is
rewarded for putting high-gain items on top of the same query's list (only the order within
a query matters, as in nDCG).  Features are standardised with the training lists' mean and
spread; a small L2 penalty keeps weights of rare features sane.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

FORMAT = 1


@dataclass
class QueryList:
    """One training query: candidate features ``[n, n_features]`` and their gains ``[n]``."""

    features: np.ndarray
    gains: np.ndarray


@dataclass
class LinearRanker:
    """score = sum_f weight_f * (x_f - mean_f) / scale_f over the named features."""

    features: tuple[str, ...]
    weights: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = tuple(self.features)
        n = len(self.features)
        self.weights = np.asarray(self.weights, dtype=np.float64)
        self.mean = np.asarray(self.mean, dtype=np.float64)
        self.scale = np.asarray(self.scale, dtype=np.float64)
        for name in ("weights", "mean", "scale"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"ranker {name} must hold {n} values, one per feature")
        if (self.scale <= 0).any():
            raise ValueError("ranker scales must be positive")
        # Folded once so scoring is one matrix-vector product.
        self._w = (self.weights / self.scale).astype(np.float32)

    @classmethod
    def from_weights(cls, weights: Mapping[str, float], info: dict | None = None) -> LinearRanker:
        """A hand-set ranker on raw (unstandardised) features."""
        names = tuple(weights)
        n = len(names)
        return cls(names, [weights[f] for f in names], np.zeros(n), np.ones(n), dict(info or {}))

    def score(self, features: np.ndarray) -> np.ndarray:
        """float32 ``[n]`` scores for ``features [n, len(self.features)]``."""
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(
                f"features must be [n, {len(self.features)}] ({', '.join(self.features)}), "
                f"got shape {x.shape}"
            )
        return x @ self._w  # the mean shifts every score alike: it cannot change an order

    def raw_weights(self, digits: int = 4) -> dict[str, float]:
        """Weight per feature on its raw scale (what one unit of the feature adds)."""
        return {f: round(float(w), digits) for f, w in zip(self.features, self._w, strict=True)}

    def as_dict(self) -> dict:
        return {
            "format": FORMAT,
            "features": list(self.features),
            "weights": self.weights.tolist(),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> LinearRanker:
        if data.get("format") != FORMAT:
            raise ValueError(f"unsupported ranker format {data.get('format')!r}")
        missing = {"features", "weights", "mean", "scale"} - set(data)
        if missing:
            raise ValueError(f"ranker is missing {sorted(missing)}")
        return cls(
            tuple(data["features"]),
            data["weights"],
            data["mean"],
            data["scale"],
            dict(data.get("info", {})),
        )

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.as_dict(), indent=2))

    @classmethod
    def load(cls, path: Path) -> LinearRanker:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: {error}") from None

    def with_features(self, names: Sequence[str]) -> bool:
        """Whether this ranker reads exactly these features (in this order)."""
        return tuple(names) == self.features


def fit_ranker(
    lists: Sequence[QueryList],
    features: Sequence[str],
    l2: float = 1e-3,
    max_iter: int = 300,
    info: dict | None = None,
) -> LinearRanker:
    """Fit ListNet weights on queries that have at least one positive gain.

    Raises ValueError when no list has a positive gain (nothing to learn from).
    """
    names = tuple(features)
    usable = [q for q in lists if len(q.gains) > 1 and np.max(q.gains) > 0]
    for i, q in enumerate(usable):
        if q.features.shape != (len(q.gains), len(names)):
            raise ValueError(
                f"query list {i}: features of shape {q.features.shape} do not match "
                f"{len(q.gains)} gains x {len(names)} features"
            )
    if not usable:
        raise ValueError("no training query has a positive gain: nothing to fit a ranker on")
    stacked = np.concatenate([q.features for q in usable]).astype(np.float64)
    mean = stacked.mean(axis=0)
    scale = stacked.std(axis=0)
    scale[scale < 1e-9] = 1.0
    # Pad the lists into one [n_queries, width, n_features] block with a validity mask.
    width = max(len(q.gains) for q in usable)
    x = np.zeros((len(usable), width, len(names)))
    target = np.zeros((len(usable), width))
    valid = np.zeros((len(usable), width), dtype=bool)
    for i, q in enumerate(usable):
        n = len(q.gains)
        x[i, :n] = (q.features - mean) / scale
        gains = np.clip(np.asarray(q.gains, dtype=np.float64), 0.0, None)
        target[i, :n] = gains / gains.sum()
        valid[i, :n] = True

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = np.where(valid, x @ w, -np.inf)
        s_max = s.max(axis=1, keepdims=True)
        e = np.where(valid, np.exp(s - s_max), 0.0)
        z = e.sum(axis=1, keepdims=True)
        log_p = np.where(valid, s - s_max - np.log(z), 0.0)
        value = -(target * log_p).sum() / len(usable) + l2 * (w @ w)
        grad_s = (e / z - target) / len(usable)  # d loss / d score
        grad = np.einsum("qn,qnf->f", grad_s, x) + 2 * l2 * w
        return float(value), grad

    result = minimize(
        loss, np.zeros(len(names)), jac=True, method="L-BFGS-B", options={"maxiter": max_iter}
    )
    meta = {"n_queries": len(usable), "loss": round(float(result.fun), 6), **(info or {})}
    return LinearRanker(names, result.x, mean, scale, meta)
