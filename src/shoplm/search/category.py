"""Query -> category: which part of the catalog a query is after ("iphone 15" -> Phones).

A category is represented by one unit vector in the text encoder's space, so a query is
classified by cosine similarity, with no training:

- from a catalog (:meth:`CategoryPredictor.from_catalog`): the mean vector of the
  category's items, blended with the vector of the category's name when an encoder is
  given; categories are the full paths the items carry;
- from names only (:meth:`CategoryPredictor.from_names`): the vector of each label, which
  is how shoplm classifies WANDS queries, whose catalog is not available;
- labelled example queries (say a click log's queries with the clicked item's category)
  can be blended in with :meth:`CategoryPredictor.with_examples`.

The probabilities (a softmax over cosines) feed the re-ranker's ``category`` feature and
the explanation of a hit; a shop can also turn the best category into a filter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shoplm.text.encoder import TextEncoder

TEMPERATURE = 0.05  # cosine differences of 0.05 change the odds by e
NAME_WEIGHT = 0.5  # share of the name vector next to the items' mean vector


class CategoryPredictor:
    """Category labels with one unit vector each; predicts from a query vector."""

    def __init__(
        self, labels: Sequence[str], vectors: np.ndarray, temperature: float = TEMPERATURE
    ) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(labels):
            raise ValueError(
                f"need one vector per label: {len(labels)} labels, vectors of shape {vectors.shape}"
            )
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.labels = list(labels)
        self.vectors = _normalised(vectors)
        self.temperature = temperature
        self.index = {label: i for i, label in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_names(cls, labels: Sequence[str], encoder: TextEncoder) -> CategoryPredictor:
        """Each label's own text as its vector (zero-shot; no items needed)."""
        labels = list(dict.fromkeys(label for label in labels if label))
        if not labels:
            raise ValueError("no category labels to predict")
        return cls(labels, encoder.encode_cached([_readable(label) for label in labels]))

    @classmethod
    def from_catalog(
        cls,
        categories: Sequence[str],
        embeddings: np.ndarray,
        encoder: TextEncoder | None = None,
    ) -> tuple[CategoryPredictor | None, np.ndarray]:
        """Predictor over the catalog's categories and each item's category id (-1: none).

        None (and all -1) when no item has a category.
        """
        ids = np.full(len(categories), -1, dtype=np.int64)
        labels: dict[str, int] = {}
        for row, category in enumerate(categories):
            if category:
                ids[row] = labels.setdefault(category, len(labels))
        if not labels:
            return None, ids
        sums = np.zeros((len(labels), embeddings.shape[1]), dtype=np.float64)
        has = ids >= 0
        np.add.at(sums, ids[has], embeddings[has])
        vectors = _normalised(sums.astype(np.float32))
        if encoder is not None:
            names = _normalised(encoder.encode_cached([_readable(label) for label in labels]))
            vectors = (1.0 - NAME_WEIGHT) * vectors + NAME_WEIGHT * names
        return cls(list(labels), vectors), ids

    def with_examples(
        self, query_vectors: np.ndarray, labels: Sequence[str], weight: float = 0.5
    ) -> CategoryPredictor:
        """A copy whose vectors lean towards the mean of labelled example queries.

        Labels without examples keep their vector; unknown labels are ignored.
        """
        vectors = self.vectors.copy()
        sums = np.zeros_like(vectors)
        counts = np.zeros(len(self.labels))
        for vector, label in zip(np.asarray(query_vectors), labels, strict=True):
            i = self.index.get(label)
            if i is not None:
                sums[i] += vector
                counts[i] += 1
        seen = counts > 0
        vectors[seen] = (1 - weight) * vectors[seen] + weight * _normalised(sums[seen])
        return CategoryPredictor(self.labels, vectors, self.temperature)

    def probabilities(self, query_vector: np.ndarray) -> np.ndarray:
        """float32 ``[n_labels]`` summing to 1."""
        logits = (self.vectors @ np.asarray(query_vector, dtype=np.float32)) / self.temperature
        logits -= logits.max()
        odds = np.exp(logits)
        return (odds / odds.sum()).astype(np.float32)

    def predict(self, query_vector: np.ndarray, top: int = 1) -> list[tuple[str, float]]:
        """The ``top`` most likely labels with their probabilities, best first."""
        probs = self.probabilities(query_vector)
        best = np.argsort(-probs, kind="stable")[:top]
        return [(self.labels[i], float(probs[i])) for i in best]


def _readable(label: str) -> str:
    """'Phones > Smartphones' reads better to an encoder as 'Smartphones (Phones)'."""
    parts = [p.strip() for p in label.split(">") if p.strip()]
    if len(parts) <= 1:
        return label
    return f"{parts[-1]} ({', '.join(parts[:-1])})"


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
