"""Item side tokens and content vectors."""

from __future__ import annotations

import numpy as np
import pytest

from shoplm.recommend.features import TokenVocab, content_vectors, item_tokens, token_vectors
from shoplm.schema import Item


def test_tokens_cover_brand_category_path_and_attributes() -> None:
    item = Item(
        item_id="x",
        title="Pen",
        brand=" Inkwell ",
        category="Office > Writing > Pens",
        attributes={"attribute_ids": "12 40", "colour": "Dark Blue", "notes": "x" * 60},
    )
    assert item_tokens(item) == [
        "attribute_ids=12",
        "attribute_ids=40",
        "brand=inkwell",
        "category=office",
        "category=office > writing",
        "category=office > writing > pens",
        "colour=blue",
        "colour=dark",
    ]  # the 60-character note is free text, not a token


def test_vocab_keeps_tokens_shared_by_two_items() -> None:
    items = [
        Item(item_id="a", title="a", brand="Acme", category="Tools"),
        Item(item_id="b", title="b", brand="Acme", category="Toys"),
        Item(item_id="c", title="c"),
    ]
    vocab = TokenVocab.build(items)
    assert vocab.tokens == ["brand=acme"]
    matrix = vocab.matrix(items)
    assert matrix.shape == (3, 1) and matrix.toarray().ravel().tolist() == [1.0, 1.0, 0.0]


def test_token_vectors_are_unit_or_zero_rows() -> None:
    items = [Item(item_id=str(i), title="t", brand="AB"[i % 2]) for i in range(4)]
    items.append(Item(item_id="plain", title="t"))
    vectors = token_vectors(items)
    norms = np.linalg.norm(vectors, axis=1)
    assert np.allclose(norms[:4], 1.0) and norms[4] == 0.0
    assert vectors[0] @ vectors[2] == pytest.approx(1.0) and vectors[0] @ vectors[1] == 0.0


def test_content_vectors_mix_text_and_tokens() -> None:
    items = [Item(item_id=str(i), title="t", brand="AB"[i % 2]) for i in range(4)]
    text = np.eye(4, dtype=np.float32)  # every title unlike every other
    only_text = content_vectors(items, text, token_weight=0.0)
    assert np.allclose(only_text, text)
    mixed = content_vectors(items, text, token_weight=1.0)
    assert np.allclose(np.linalg.norm(mixed, axis=1), 1.0)
    assert mixed[0] @ mixed[2] == pytest.approx(0.5)  # same brand: half the vector agrees
    assert mixed[0] @ mixed[1] == pytest.approx(0.0)
    only_tokens = content_vectors(items, None, token_weight=1.0)
    assert only_tokens[0] @ only_tokens[2] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="need text embeddings or items"):
        content_vectors(None, None, token_weight=1.0)


def test_catalog_scorer_equals_the_dense_product_and_keeps_token_columns_sparse() -> None:
    from shoplm.recommend.features import CatalogScorer

    rng = np.random.default_rng(0)
    text = rng.normal(size=(200, 8)).astype(np.float32)
    tokens = np.zeros((200, 40), dtype=np.float32)
    tokens[np.arange(200), np.arange(200) % 40] = 1.0  # one token per item, 5 items a token
    vectors = np.hstack([text, tokens])
    profiles = rng.normal(size=(3, 48)).astype(np.float32)
    scorer = CatalogScorer(vectors)
    assert list(scorer.dense_columns) == list(range(8))
    assert scorer.sparse.shape == (200, 40) and scorer.sparse.nnz == 200
    np.testing.assert_allclose(scorer.scores(profiles), profiles @ vectors.T, rtol=1e-5, atol=1e-5)
    assert CatalogScorer.for_vectors(scorer, vectors) is scorer
    assert CatalogScorer.for_vectors(scorer, vectors.copy()) is not scorer
