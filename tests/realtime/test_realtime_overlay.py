"""New, changed and deleted items laid over a fit: indexes, catalog and models agree."""

from __future__ import annotations

import numpy as np
import pytest

from shoplm.index.lexical import LexicalIndex
from shoplm.index.vector import VectorIndex
from shoplm.realtime.live_index import LiveLexicalIndex, LiveVectorIndex
from shoplm.realtime.live_models import PaddedModel, no_evidence
from shoplm.realtime.overlay import OverlayEntry, PlatformOverlay, compose
from shoplm.recommend.base import UserBatch
from shoplm.schema import Item


def entry(engine, item: dict) -> OverlayEntry:
    parsed = Item.model_validate(item)
    return OverlayEntry(parsed, engine.encoder.encode_query(parsed.text()), 0.0)


def test_no_overlay_is_the_fit_itself(shop):
    base = shop.fitted()
    assert compose(base, PlatformOverlay()) is base


def test_new_item_gets_a_row_in_every_part(shop):
    base = shop.fitted()
    new = entry(
        shop,
        {
            "item_id": "n1",
            "title": "Teapot kettle",
            "brand": "Kettlebrew",
            "category": "Kitchen > Tea",
            "price": 30,
        },
    )
    live = compose(base, PlatformOverlay({"n1": new}))
    row = base.n_items
    assert live.n_items == row + 1 and live.item_index["n1"] == row
    assert live.catalog.item_ids[row] == "n1" and live.catalog.brands[row] == "kettlebrew"
    assert live.catalog.prices[row] == 30 and len(live.catalog.categories) == row + 1
    assert np.allclose(live.embeddings[row], new.vector)
    assert live.live_new_rows.tolist() == [row]
    rows, scores = live.lexical_index.search("teapot", 5)
    assert rows.tolist() == [row] and scores[0] > 0
    scores, rows = live.vector_index.search(new.vector, 1)
    assert rows[0].tolist() == [row] and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    for name, model in live.models.items():
        scores = model.score(UserBatch(np.array([-1]), [np.array([row, 0])]))
        assert scores.shape == (1, row + 1), name
    content = live.models["content"].score(UserBatch(np.array([-1]), [np.array([row])]))
    assert content[0, row] == pytest.approx(1.0, abs=1e-5)  # a new item in a history counts
    assert isinstance(live.models["itemknn"], PaddedModel)
    assert live.models["itemknn"].similar_items(row).tolist() == [0.0] * (row + 1)
    assert base.n_items == row and "n1" not in base.item_index  # the fit is untouched


class _Negative:
    """A fitted model whose scores are all below 0, as a learned ranker's may be."""

    n_items = 4

    def score(self, batch: UserBatch) -> np.ndarray:
        return np.tile(np.array([-3.0, -2.0, -9.0, -np.inf], np.float32), (len(batch), 1))


def test_a_new_item_scores_the_models_mean_not_above_its_picks():
    live = PaddedModel(_Negative(), 6)  # type: ignore[arg-type]
    scores = live.score(UserBatch(np.array([0]), [np.array([0])]))[0]
    # the mean of the finite scores, -14/3: below the model's two real picks, as 0 was not
    assert scores[4] == scores[5] == pytest.approx(-14 / 3)
    assert np.argsort(-scores)[:2].tolist() == [1, 0]
    with pytest.raises(ValueError, match="unknown new_item_score 'median'"):
        no_evidence(np.zeros((1, 2)), "median")


def test_filters_apply_to_overlay_rows(shop):
    base = shop.fitted()
    new = entry(shop, {"item_id": "n1", "title": "Teapot kettle", "price": 30})
    live = compose(base, PlatformOverlay({"n1": new}))
    allowed = np.zeros(live.n_items, dtype=bool)
    assert live.lexical_index.search("teapot", 5, allowed=allowed)[0].tolist() == []
    _, rows = live.vector_index.search(new.vector, 3, allowed=allowed)
    assert rows.tolist() == [[-1, -1, -1]]
    allowed[base.n_items] = True
    assert live.lexical_index.search("teapot", 5, allowed=allowed)[0].tolist() == [base.n_items]
    with pytest.raises(ValueError, match="bool mask"):
        live.vector_index.search(new.vector, 3, allowed=np.ones(3, dtype=bool))


def test_changed_item_keeps_its_row_with_new_text(shop):
    base = shop.fitted()
    row = base.item_index["h3"]
    changed = entry(shop, {"item_id": "h3", "title": "Vinyl turntable", "brand": "Bassline"})
    live = compose(base, PlatformOverlay({"h3": changed}))
    assert live.n_items == base.n_items and live.item_index["h3"] == row
    assert live.lexical_index.search("turntable", 3)[0].tolist() == [row]
    assert row not in live.lexical_index.search("studio headphones", 10)[0].tolist()
    _, rows = live.vector_index.search(changed.vector, live.n_items)
    assert rows[0].tolist().count(row) == 1  # the fitted copy is masked, only the new one
    assert live.catalog.categories[row] == ""  # the new text has no category


def test_deleted_item_is_masked_from_search(shop):
    base = shop.fitted()
    row = base.item_index["p4"]
    live = compose(base, PlatformOverlay(deleted={"p4"}))
    assert row not in live.lexical_index.search("screen protector", 10)[0].tolist()
    _, rows = live.vector_index.search(base.embeddings[row], base.n_items)
    assert row not in rows[0].tolist()
    assert live.live_deleted_rows.tolist() == [row]


def test_live_vector_search_equals_brute_force():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    base = VectorIndex.build(vectors[:40])
    masked = np.array([3, 7])
    overlay_rows = np.array([3, *range(40, 50)])
    live = LiveVectorIndex(base, 50, masked, overlay_rows, vectors[overlay_rows])
    queries = rng.normal(size=(4, 8)).astype(np.float32)
    scores, rows = live.search(queries, 6)
    keep = np.setdiff1d(np.arange(50), [7])  # 3 is masked in the fit but back in the overlay
    expected = keep[np.argsort(-(queries @ vectors[keep].T), axis=1)[:, :6]]
    assert np.array_equal(rows, expected)
    assert np.allclose(scores, np.take_along_axis(queries @ vectors.T, rows, axis=1), atol=1e-5)


def test_overlay_bm25_is_on_the_fitted_scale():
    docs = [{"title": f"red shoe model {i}"} for i in range(30)] + [{"title": "blue hat"}]
    base = LexicalIndex.build(docs)
    twin = LexicalIndex.build([*docs, {"title": "red shoe model 99"}])
    live = LiveLexicalIndex(
        base, 32, np.zeros(0, dtype=np.int64), np.array([31]), [{"title": "red shoe model 99"}]
    )
    _, exact = twin.search("blue hat", 1)
    rows, scores = live.search("red shoe", 32)
    assert 31 in rows.tolist()
    fitted_score = scores[rows.tolist().index(0)]
    overlay_score = scores[rows.tolist().index(31)]
    assert overlay_score == pytest.approx(fitted_score, rel=0.35)
    assert live.vocabulary()["99"] == 1 and live.vocabulary()["red"] == 31
    assert len(exact)  # the twin index answers: the comparison above is against real BM25
