import pytest

from shoplm.schema import Event
from shoplm.search.features import RERANK_FEATURES
from shoplm.search.learn import click_examples, fit_search_model
from shoplm.search.pipeline import SearchPipeline
from shoplm.store import SearchClick


def _examples(fitted) -> list:
    row = fitted.item_index
    return [
        ("coffee grinder", {row["c2"]: 2.0, row["c1"]: 0.5}),
        ("phone case", {row["p3"]: 2.0}),
        ("smartphone", {row["p1"]: 2.0, row["p2"]: 2.0}),
        ("wireless earbuds", {row["h2"]: 2.0, row["h1"]: 1.0}),
        ("espresso machine", {row["c1"]: 2.0}),
        ("headphones", {row["h1"]: 2.0, row["h3"]: 2.0}),
    ]


def test_fit_search_model_learns_both_rankers(fitted, encoder):
    pipeline = SearchPipeline(fitted, encoder)
    messages = []
    model = fit_search_model(pipeline, _examples(fitted), progress=messages.append)
    assert model.info == {"source": "judgments", "n_examples": 6}
    assert model.ranker("rerank").features == RERANK_FEATURES
    assert model.ranker("rerank").info["n_queries"] == 6
    assert model.ranker("fusion").info["n_queries"] == 6
    assert any("learning search from 6 queries" in m for m in messages)
    # the learned model still finds what the examples taught
    learned = SearchPipeline(fitted, encoder, model)
    top = learned.search("coffee grinder", k=1, method="hybrid-rerank")[0]
    assert fitted.catalog.item_ids[top.row] == "c2"


def test_fit_search_model_rejects_useless_or_bad_examples(fitted, encoder):
    pipeline = SearchPipeline(fitted, encoder)
    with pytest.raises(ValueError, match="no example query has an item with a positive gain"):
        fit_search_model(pipeline, [("phone", {0: 0.0}), ("  ", {1: 1.0})])
    with pytest.raises(ValueError, match="item row 999 is outside the catalog"):
        fit_search_model(pipeline, [("phone", {999: 1.0})])


def test_click_examples_weight_intent():
    events = [
        Event(user_id="u", item_id="a", type="click", query="Phone ", timestamp=1),
        Event(user_id="u", item_id="a", type="purchase", query="phone", timestamp=2),
        Event(user_id="v", item_id="b", type="click", query="phone", timestamp=3),
        Event(user_id="v", item_id="a", type="view", timestamp=4),  # no query
        Event(user_id="v", item_id="zzz", type="click", query="phone", timestamp=5),
        Event(user_id="v", type="search", query="phone", timestamp=6),  # no item
    ]
    assert click_examples(events, known={"a", "b"}) == [("phone", {"a": 4.0, "b": 1.0})]
    stored = [SearchClick("Case", "c", "add_to_cart"), SearchClick("phone", "a", "click")]
    assert click_examples(stored) == [("case", {"c": 2.0}), ("phone", {"a": 1.0})]
