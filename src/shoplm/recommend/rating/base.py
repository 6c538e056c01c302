"""What every explicit-rating model shares: id indexing, input checks, clipping, persistence.

A rating model learns from (user, item, rating) triples and predicts the rating a user would
give an item.  Ids are strings (anything else is turned into one with ``str``).  A user or
item not seen in training is not an error by default: the model falls back to what it knows
(see ``predict``); ``strict=True`` makes it a ``KeyError`` instead.  Models are saved as
safetensors (arrays) plus a JSON manifest (settings and ids), never as pickles.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from safetensors.numpy import load_file, save_file

MANIFEST = "manifest.json"
ARRAYS = "arrays.safetensors"
DEFAULT_SCALE = (1.0, 5.0)


@dataclass
class ItemVectors:
    """Text embeddings of catalog items (rows of ``vectors`` follow ``item_ids``).

    The catalog may hold items nobody rated yet: text-aware models predict for them too.
    """

    item_ids: list[str]
    vectors: np.ndarray

    def __post_init__(self) -> None:
        self.item_ids = [str(i) for i in self.item_ids]
        self.vectors = np.asarray(self.vectors, dtype=np.float64)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.item_ids):
            raise ValueError(
                f"item vectors must be [{len(self.item_ids)}, dim], got {self.vectors.shape}"
            )
        if len(set(self.item_ids)) != len(self.item_ids):
            raise ValueError("item vectors name an item id twice")
        if not np.isfinite(self.vectors).all():
            row = int(np.argmax(~np.isfinite(self.vectors).all(axis=1)))
            raise ValueError(f"item vector of {self.item_ids[row]!r} is not finite")


@dataclass
class Ratings:
    """Validated training triples as integer rows into the model's id lists."""

    user_rows: np.ndarray
    item_rows: np.ndarray
    values: np.ndarray


def as_ids(ids: Sequence[Any], field: str) -> list[str]:
    """Ids as strings; a lone string is refused (it would be read as one id per character)."""
    if isinstance(ids, str | bytes):
        raise TypeError(f"{field} must be a sequence of ids, not one string")
    return [str(i) for i in ids]


def check_scale(scale: Sequence[float]) -> tuple[float, float]:
    low, high = (float(v) for v in scale)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"rating scale must be (low, high) with low < high, got {scale}")
    return low, high


def check_ratings(
    users: Sequence[Any], items: Sequence[Any], ratings: Sequence[float], scale: tuple[float, float]
) -> tuple[list[str], list[str], np.ndarray]:
    """Ids as strings and ratings as float64, with a clear error naming the bad row."""
    user_ids, item_ids = as_ids(users, "users"), as_ids(items, "items")
    values = np.asarray(ratings, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"ratings must be one-dimensional, got shape {values.shape}")
    if not len(user_ids) == len(item_ids) == len(values):
        raise ValueError(
            f"users, items and ratings differ in length: "
            f"{len(user_ids)}, {len(item_ids)}, {len(values)}"
        )
    if not len(values):
        raise ValueError("no ratings to fit on")
    low, high = scale
    bad = ~np.isfinite(values) | (values < low) | (values > high)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"rating #{row} (user {user_ids[row]!r}, item {item_ids[row]!r}) is {values[row]}, "
            f"outside the rating scale [{low:g}, {high:g}]"
        )
    return user_ids, item_ids, values


def index_of(ids: Sequence[str]) -> dict[str, int]:
    return {key: row for row, key in enumerate(ids)}


def lookup(ids: Sequence[Any], index: dict[str, int], field: str, strict: bool) -> np.ndarray:
    """Rows of ``ids`` in ``index``; -1 for unknown ones, or a KeyError when ``strict``."""
    keys = as_ids(ids, field)
    rows = np.fromiter((index.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
    if strict and (rows < 0).any():
        position = int(np.argmax(rows < 0))
        raise KeyError(f"{field[:-1]} {keys[position]!r} (position {position}) was not in training")
    return rows


Monitor = tuple[np.ndarray, np.ndarray, np.ndarray]  # validation user rows, item rows, ratings


class RatingModel(ABC):
    """Base class: subclasses set ``name`` and implement ``_fit``, ``_predict`` and arrays.

    Hyperparameters are constructor keywords and are saved in the manifest as they are.
    """

    name: ClassVar[str]
    uses_text: ClassVar[bool] = False  # True: ``fit`` reads ``item_vectors``
    seeded: ClassVar[bool] = False  # True: takes a ``seed`` keyword

    def __init__(self, scale: Sequence[float] = DEFAULT_SCALE, **params: Any) -> None:
        self.scale = check_scale(scale)
        self.params: dict[str, Any] = params
        self.user_ids: list[str] = []
        self.item_ids: list[str] = []
        self._user_index: dict[str, int] = {}
        self._item_index: dict[str, int] = {}
        self.history: list[dict[str, float]] = []  # per-epoch validation scores, if any
        self._patience: int | None = None

    # -- training ------------------------------------------------------------------------
    def fit(
        self,
        users: Sequence[Any],
        items: Sequence[Any],
        ratings: Sequence[float],
        item_vectors: ItemVectors | None = None,
        valid: tuple[Sequence[Any], Sequence[Any], Sequence[float]] | None = None,
        patience: int | None = None,
    ) -> Self:
        """Learn from the triples; ``item_vectors`` is only read by text-aware models.

        ``valid`` (users, items, ratings) is scored after every epoch of iterative models
        and the scores are kept in ``history``; it never changes what is learned, except
        that with ``patience`` training stops once the validation RMSE has not improved
        for that many epochs (the model is then the last epoch's, not the best one's).
        """
        user_ids, item_ids, values = check_ratings(users, items, ratings, self.scale)
        self.user_ids = list(dict.fromkeys(user_ids))
        self.item_ids = list(dict.fromkeys(item_ids))
        if item_vectors is not None and self.uses_text:
            known = set(self.item_ids)
            self.item_ids += [i for i in item_vectors.item_ids if i not in known]
        self._user_index, self._item_index = index_of(self.user_ids), index_of(self.item_ids)
        data = Ratings(
            user_rows=lookup(user_ids, self._user_index, "users", strict=True),
            item_rows=lookup(item_ids, self._item_index, "items", strict=True),
            values=values,
        )
        self.history = []
        self._patience = patience
        monitor = None
        if valid is not None:
            v_users, v_items, v_values = check_ratings(*valid, self.scale)
            monitor = (
                lookup(v_users, self._user_index, "users", strict=False),
                lookup(v_items, self._item_index, "items", strict=False),
                v_values,
            )
        self._fit(data, item_vectors if self.uses_text else None, monitor)
        return self

    @abstractmethod
    def _fit(
        self,
        data: Ratings,
        item_vectors: ItemVectors | None,
        monitor: Monitor | None,
    ) -> None:
        """Learn the arrays from indexed triples; after each epoch ``_record``, stop if true."""

    def _record(self, epoch: int, monitor: Monitor | None) -> bool:
        """Score the validation triples after an epoch; True when patience has run out."""
        if monitor is None:
            return False
        user_rows, item_rows, values = monitor
        error = np.clip(self._predict(user_rows, item_rows), *self.scale) - values
        self.history.append(
            {
                "epoch": epoch,
                "rmse": float(np.sqrt(np.mean(error**2))),
                "mae": float(np.mean(np.abs(error))),
            }
        )
        if self._patience is None:
            return False
        best = min(range(len(self.history)), key=lambda e: self.history[e]["rmse"])
        return len(self.history) - 1 - best >= self._patience

    # -- prediction ----------------------------------------------------------------------
    def predict(
        self, users: Sequence[Any], items: Sequence[Any], strict: bool = False
    ) -> np.ndarray:
        """float64 predicted ratings, clipped to the scale.

        Unknown users and items fall back to the parts of the model that are known (for
        the bias and factor models: no user term for an unknown user, no item term for an
        unknown item, so a pair of strangers gets the global mean).  With ``strict`` an
        unknown id raises a ``KeyError`` naming it.
        """
        if not self.user_ids:
            raise RuntimeError(f"the {self.name} model is not fitted")
        user_rows = lookup(users, self._user_index, "users", strict)
        item_rows = lookup(items, self._item_index, "items", strict)
        if len(user_rows) != len(item_rows):
            raise ValueError(f"{len(user_rows)} users but {len(item_rows)} items to predict")
        return np.clip(self._predict(user_rows, item_rows), *self.scale)

    @abstractmethod
    def _predict(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        """Unclipped predictions; a row of -1 is an unknown id."""

    # -- persistence ---------------------------------------------------------------------
    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """The learned state as named arrays."""

    @abstractmethod
    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the learned state saved by ``arrays``."""

    def save(self, folder: Path | str) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.ascontiguousarray(v) for k, v in self.arrays().items()}
        save_file(arrays, str(folder / ARRAYS))
        manifest = {
            "model": self.name,
            "scale": list(self.scale),
            "params": self.params,
            "user_ids": self.user_ids,
            "item_ids": self.item_ids,
        }
        (folder / MANIFEST).write_text(json.dumps(manifest))

    @classmethod
    def load(cls, folder: Path | str) -> Self:
        folder = Path(folder)
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest["model"] != cls.name:
            raise ValueError(f"{folder} holds a {manifest['model']!r} model, not {cls.name!r}")
        model = cls(scale=manifest["scale"], **manifest["params"])
        model.user_ids, model.item_ids = manifest["user_ids"], manifest["item_ids"]
        model._user_index, model._item_index = index_of(model.user_ids), index_of(model.item_ids)
        model.set_arrays(load_file(str(folder / ARRAYS)))
        return model
