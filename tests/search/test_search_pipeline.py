import numpy as np
import pytest

from shoplm.search.filters import SearchFilters
from shoplm.search.pipeline import SEARCH_METHODS, SearchPipeline, _fitted_view


def ids(fitted, candidates) -> list[str]:
    return [fitted.catalog.item_ids[c.row] for c in candidates]


@pytest.mark.parametrize("method", SEARCH_METHODS)
def test_every_method_finds_the_grinder(fitted, encoder, method):
    pipeline = SearchPipeline(fitted, encoder)
    found = pipeline.search("coffee grinder", k=3, method=method)
    assert ids(fitted, found)[0] == "c2"
    assert len(found) == 3
    scores = [c.score for c in found]
    assert scores == sorted(scores, reverse=True)


def test_rerank_reads_through_a_typo(fitted, encoder):
    pipeline = SearchPipeline(fitted, encoder)
    assert pipeline.search("smartphnoe", k=3, method="bm25") == []
    found = pipeline.search("smartphnoe", k=2, method="hybrid-rerank")
    assert set(ids(fitted, found)) == {"p1", "p2"}
    assert found[0].sources["bm25"] > 0 and "dense" in found[0].sources
    insight = pipeline.insight("smartphnoe")
    assert insight.analyzed.corrections == {"smartphnoe": "smartphone"}
    assert insight.categories[0][0] == "Phones > Smartphones"


def test_category_feature_is_reported(fitted, encoder):
    found = SearchPipeline(fitted, encoder).search("headphones", k=2, method="hybrid-rerank")
    assert all(0 <= c.sources["category"] <= 1 for c in found)


@pytest.mark.parametrize("method", SEARCH_METHODS)
def test_filters_apply_inside_retrieval(fitted, encoder, method):
    pipeline = SearchPipeline(fitted, encoder)
    found = pipeline.search("wireless", k=5, method=method, filters=SearchFilters(max_price=150))
    assert found and all(fitted.catalog.prices[c.row] <= 150 for c in found)
    within = SearchFilters(item_ids=["c1", "c3"])
    assert set(ids(fitted, pipeline.search("coffee", k=5, method=method, filters=within))) <= {
        "c1",
        "c3",
    }
    none = SearchFilters(brands=["nobody"])
    assert pipeline.search("coffee", k=5, method=method, filters=none) == []


def test_history_reorders_without_adding(fitted, encoder):
    pipeline = SearchPipeline(fitted, encoder)
    plain = pipeline.search("phone", k=4, method="hybrid-rerank")
    case_row = fitted.item_index["p3"]
    personal = pipeline.search(
        "phone", k=4, method="hybrid-rerank", history_rows=np.array([case_row])
    )
    assert set(ids(fitted, plain)) == set(ids(fitted, personal))
    assert all(c.nearest_history_row == case_row for c in personal)
    untouched = pipeline.search("phone", k=4, method="hybrid-rerank", history_rows=np.array([]))
    assert ids(fitted, untouched) == ids(fitted, plain)


def test_bad_method_and_empty_query(fitted, encoder):
    pipeline = SearchPipeline(fitted, encoder)
    with pytest.raises(ValueError, match="unknown search method 'magic'"):
        pipeline.search("phone", method="magic")
    assert pipeline.search("   ") == []
    assert pipeline.search("phone", k=0) == []


def test_training_list_holds_candidates_and_gains(fitted, encoder):
    pipeline = SearchPipeline(fitted, encoder)
    row = fitted.item_index["c2"]
    listed = pipeline.training_list("coffee grinder", {row: 2.0}, "hybrid-rerank")
    assert listed.features.shape[0] == len(listed.gains) > 1
    assert listed.gains.max() == 2.0 and (listed.gains > 0).sum() == 1


class _Live:
    """A stand-in for the real-time layer's index: the fitted index plus masked rows."""

    def __init__(self, base, masked):
        self.base, self.masked_rows = base, np.array(masked)


def test_live_index_view_marks_rows_the_fit_does_not_describe(fitted):
    base, valid = _fitted_view(fitted.lexical_index, fitted.n_items)
    assert base is fitted.lexical_index and valid is None
    base, valid = _fitted_view(_Live(fitted.lexical_index, [1]), fitted.n_items + 2)
    assert base is fitted.lexical_index
    assert valid.tolist() == [True, False] + [True] * (fitted.n_items - 2) + [False, False]
    with pytest.raises(TypeError, match="unsupported lexical index"):
        _fitted_view(object(), 3)
