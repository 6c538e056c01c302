"""The one small protocol every recommender follows: fit, score, save, load.

Because all models score the same item rows, the hybrid blends them column by column and
the evaluator ranks their output the same way.  Models are saved as safetensors (arrays)
plus a JSON manifest (settings), never as pickles.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
from safetensors.numpy import load_file, save_file

from shoplm.interactions import Interactions
from shoplm.schema import Item

MANIFEST = "manifest.json"
ARRAYS = "arrays.safetensors"


TEXT_VECTORS = ("base", "home")  # which encoder's item vectors a model reads


def checked_text_vectors(which: str) -> str:
    """``which`` when it names whose item vectors to read (:data:`TEXT_VECTORS`)."""
    if which not in TEXT_VECTORS:
        raise ValueError(f"text_vectors must be one of {TEXT_VECTORS}, got {which!r}")
    return which


@dataclass
class FitContext:
    """What a model may use besides the interactions.

    ``item_embeddings`` rows align with ``Interactions.item_ids`` and are L2-normalised;
    ``items`` likewise.  Either may be None when the engine has no text for the items.
    ``item_embeddings`` come from the home's encoder; when that encoder was fine-tuned from a
    base model, ``base_vectors`` gives the base's vectors of the same items (encoded on first
    call, so a fit whose models never ask pays nothing), else it is None.
    """

    items: list[Item] | None = None
    item_embeddings: np.ndarray | None = None
    seed: int = 42
    show_progress: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    base_vectors: Callable[[], np.ndarray] | None = None

    def text_vectors(self, which: str) -> np.ndarray | None:
        """The item vectors of ``which`` encoder: ``"home"`` (the home's, tuned or not) or
        ``"base"`` (the base it was tuned from; the home's own when it was not tuned)."""
        if self.text_source(which) == "base":
            assert self.base_vectors is not None
            return self.base_vectors()
        return self.item_embeddings

    def text_source(self, which: str) -> str:
        """Whose vectors :meth:`text_vectors` gives for ``which``: ``"base"`` only where the
        home's encoder is tuned from another model, else ``"home"`` (for a model's report)."""
        checked_text_vectors(which)
        return "base" if which == "base" and self.base_vectors is not None else "home"


@dataclass
class UserBatch:
    """Users to score: their row in the training data (-1 if unknown) and their history.

    Histories come from the store at request time, so history-based models answer with
    the user's latest events even before the next fit.
    """

    user_rows: np.ndarray
    histories: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.histories)

    @classmethod
    def for_training_users(cls, data: Interactions, user_rows: np.ndarray) -> UserBatch:
        return cls(
            user_rows=np.asarray(user_rows, dtype=np.int64),
            histories=[data.histories[u] for u in user_rows],
        )


class Recommender(ABC):
    """Base class: subclasses set ``name`` and implement fit/score and their arrays."""

    name: ClassVar[str]
    # What an item stored after the fit scores in the server (realtime.live_models): "mean",
    # the mean of the model's scores for the user (no evidence either way), or "lowest",
    # below everything the model scored.
    new_item_score: ClassVar[Literal["mean", "lowest"]] = "mean"

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = params
        self.n_items = 0

    @abstractmethod
    def fit(self, data: Interactions, context: FitContext) -> None:
        """Learn from the interactions; must set ``self.n_items``."""

    @abstractmethod
    def score(self, batch: UserBatch) -> np.ndarray:
        """float32 [len(batch), n_items]; higher is better. Seen items are not masked here."""

    def similar_items(self, item_row: int) -> np.ndarray:
        """Scores of all items for "more like this item"; default: a one-item history."""
        batch = UserBatch(np.array([-1]), [np.array([item_row], dtype=np.int64)])
        return self.score(batch)[0]

    # -- persistence ---------------------------------------------------------------------
    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """The learned state as named arrays."""

    @abstractmethod
    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the learned state saved by ``arrays``."""

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.ascontiguousarray(v) for k, v in self.arrays().items()}
        save_file(arrays, str(folder / ARRAYS))
        manifest = {"model": self.name, "params": self.params, "n_items": self.n_items}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))

    @classmethod
    def load(cls, folder: Path) -> Self:
        folder = Path(folder)
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest["model"] != cls.name:
            raise ValueError(f"{folder} holds a {manifest['model']!r} model, not {cls.name!r}")
        model = cls(**manifest["params"])
        model.n_items = int(manifest["n_items"])
        model.set_arrays(load_file(str(folder / ARRAYS)))
        return model


def recency_weights(length: int, half_life: float) -> np.ndarray:
    """Weights for a history of ``length`` items, newest = 1, halving every ``half_life``."""
    if length == 0:
        return np.zeros(0, dtype=np.float32)
    age = np.arange(length - 1, -1, -1, dtype=np.float32)
    return np.power(0.5, age / max(half_life, 1e-6)).astype(np.float32)
