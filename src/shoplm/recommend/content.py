"""Content: recommend items whose text is close to what the user recently took.

The one model that needs no co-occurrence, so a new item is recommendable the moment its
text is encoded (``add_items``), before any user touched it, and a user with one event
already gets a personal list.  It keeps its own copy of the item vectors so a saved
model scores without the encoder or the index.

When the items carry brand, category or attributes, each item vector is its text embedding
beside a TF-IDF vector of those tokens (``features.content_vectors``), weighed by
``token_weight``: two items of the same brand line are close even when their titles differ,
and an id-only catalog (attribute ids, no words) still gets a content model.
"""

from __future__ import annotations

import numpy as np

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, Recommender, UserBatch
from shoplm.recommend.features import CatalogScorer, content_vectors
from shoplm.recommend.itemknn import history_matrix

# Recency half-life of the taste vector, in history items, before any tuning.
DEFAULT_HALF_LIFE = 5.0


def _normalised(vectors: np.ndarray, what: str) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array [items, dim], got shape {vectors.shape}")
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if len(bad):
        raise ValueError(f"{what} row {int(bad[0])} holds NaN or infinite values")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12))


class ContentModel(Recommender):
    """Score = cosine between each item's vector and the user's taste vector.

    The taste vector is the recency-weighted mean of the user's history item vectors
    (``half_life`` in history items: the newest weighs 1, the one ``half_life`` steps back
    0.5; None weighs all equally), L2-normalised.  A user with no history scores all zeros.
    """

    name = "content"

    def __init__(
        self, half_life: float | None = DEFAULT_HALF_LIFE, token_weight: float = 0.5
    ) -> None:
        if half_life is not None and half_life <= 0:
            raise ValueError(f"half_life must be > 0 or None, got {half_life}")
        if token_weight < 0:
            raise ValueError(f"token_weight must be >= 0, got {token_weight}")
        super().__init__(half_life=half_life, token_weight=token_weight)
        self.half_life = half_life
        self.token_weight = token_weight
        self.item_embeddings = np.zeros((0, 0), dtype=np.float32)
        self.text_dim = 0  # leading columns that are the text embedding; the rest are tokens
        self._scorer: CatalogScorer | None = None

    def fit(self, data: Interactions, context: FitContext) -> None:
        if context.item_embeddings is None:
            raise ValueError(
                "the content model needs item text vectors: FitContext.item_embeddings is None "
                "(encode the catalog first, or leave 'content' out of the models to fit)"
            )
        embeddings = _normalised(context.item_embeddings, "FitContext.item_embeddings")
        if len(embeddings) != data.n_items:
            raise ValueError(
                f"FitContext.item_embeddings has {len(embeddings)} rows but the interactions "
                f"have {data.n_items} items; the rows must align with Interactions.item_ids"
            )
        self.text_dim = embeddings.shape[1]
        if context.items is not None and self.token_weight > 0:
            if len(context.items) != data.n_items:
                raise ValueError(
                    f"FitContext.items has {len(context.items)} items but the interactions "
                    f"have {data.n_items}"
                )
            embeddings = content_vectors(context.items, embeddings, self.token_weight)
        self.item_embeddings = embeddings
        self.n_items = data.n_items

    def add_items(self, vectors: np.ndarray) -> np.ndarray:
        """Append new items' vectors without refitting; returns the item rows they got.

        Text embeddings alone are accepted when the model's vectors also hold token columns:
        the new items' token part is then left empty.
        """
        vectors = _normalised(vectors, "vectors")
        width = self.item_embeddings.shape[1] if self.item_embeddings.size else 0
        if width and vectors.shape[1] == self.text_dim < width:
            vectors = np.hstack(
                [vectors, np.zeros((len(vectors), width - vectors.shape[1]), np.float32)]
            )
        if self.item_embeddings.size and vectors.shape[1] != self.item_embeddings.shape[1]:
            raise ValueError(
                f"vectors have dimension {vectors.shape[1]} but the model's items have "
                f"{self.item_embeddings.shape[1]}"
            )
        start = self.n_items
        if self.item_embeddings.size:
            self.item_embeddings = np.vstack([self.item_embeddings, vectors])
        else:
            self.item_embeddings = vectors
        self.n_items = len(self.item_embeddings)
        return np.arange(start, self.n_items, dtype=np.int64)

    def user_vectors(self, batch: UserBatch) -> np.ndarray:
        """float32 [len(batch), dim]: each user's normalised taste vector (zeros if none)."""
        history = history_matrix(batch, self.n_items, self.half_life)
        taste = np.asarray(history @ self.item_embeddings, dtype=np.float32)
        norms = np.linalg.norm(taste, axis=1, keepdims=True)
        return taste / np.maximum(norms, 1e-12)

    def score(self, batch: UserBatch) -> np.ndarray:
        self._scorer = CatalogScorer.for_vectors(self._scorer, self.item_embeddings)
        return self._scorer.scores(self.user_vectors(batch))

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "item_embeddings": self.item_embeddings,
            "text_dim": np.array([self.text_dim], dtype=np.int64),
        }

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_embeddings = np.ascontiguousarray(arrays["item_embeddings"], dtype=np.float32)
        default = self.item_embeddings.shape[1]
        self.text_dim = int(arrays["text_dim"][0]) if "text_dim" in arrays else default
