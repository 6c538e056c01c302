"""A tiny fitted shop for the search tests, with a stand-in encoder (no model download/load).

The stand-in turns a text into a normalised bag of hashed tokens, so texts sharing words
are close: enough to exercise every stage of the pipeline in milliseconds.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from shoplm.fitted import CatalogArrays, FittedPlatform
from shoplm.index.lexical import LexicalIndex
from shoplm.index.vector import VectorIndex
from shoplm.schema import Item
from shoplm.text.tokenize import tokenize

DIM = 64


class HashEncoder:
    """Same surface as TextEncoder for what search uses."""

    model_id = "hash-encoder"
    dim = DIM

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            for token in tokenize(text):
                slot = int(hashlib.md5(token.encode()).hexdigest(), 16) % DIM
                out[i, slot] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out

    def encode_cached(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


@pytest.fixture
def encoder() -> HashEncoder:
    return HashEncoder()


@pytest.fixture
def shop_items(tiny_items: list[dict]) -> list[Item]:
    return [Item.model_validate(i) for i in tiny_items]


@pytest.fixture
def fitted(shop_items: list[Item], encoder: HashEncoder) -> FittedPlatform:
    embeddings = encoder.encode([item.text() for item in shop_items])
    lexical = LexicalIndex.build(
        [
            {"title": i.title, "brand": i.brand, "category": i.category, "description": ""}
            for i in shop_items
        ]
    )
    return FittedPlatform(
        platform="default",
        catalog=CatalogArrays.from_items(shop_items),
        user_ids=[],
        encoder_id=encoder.model_id,
        embeddings=embeddings,
        vector_index=VectorIndex.build(embeddings),
        lexical_index=lexical,
        models={},
    )
