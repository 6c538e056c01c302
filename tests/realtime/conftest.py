"""A tiny shop on an engine with a hashing text encoder: real-time tests need no model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pytest

from shoplm.engine import Engine
from shoplm.text.tokenize import tokenize

DIM = 64


class HashEncoder:
    """Bag of words hashed into 64 dimensions: texts sharing words get close vectors."""

    model_id = "hash-64"
    dim = DIM

    def __init__(self) -> None:
        self.last_stats = {"cached": 0, "encoded": 0}
        self.calls = 0

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(DIM, dtype=np.float32)
        for token in tokenize(text):
            digest = hashlib.sha1(token.encode()).digest()
            vector[digest[0] % DIM] += 1.0 if digest[1] % 2 else -1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector + 1.0 / np.sqrt(DIM)

    def encode_cached(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.last_stats = {"cached": 0, "encoded": len(texts)}
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, DIM))

    encode = encode_cached

    def encode_query(self, text: str) -> np.ndarray:
        return self._vector(text)


def open_engine(home) -> Engine:
    engine = Engine.open(home)
    engine._encoder = HashEncoder()  # type: ignore[assignment]
    return engine


@pytest.fixture
def open_hashed():
    """``open_hashed(home)``: an Engine on ``home`` with the hashing encoder."""
    return open_engine


@pytest.fixture
def shop(tmp_path, tiny_items, tiny_events):
    """An open, fitted engine on a fresh home (closed after the test)."""
    engine = open_engine(tmp_path / "home")
    engine.upsert_items(tiny_items)
    engine.add_events(tiny_events)
    engine.fit()
    yield engine
    engine.close()
