"""The "kg" recommender: personalised PageRank ranks graph neighbours of the user's items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from shoplm.graph.build import build_graph
from shoplm.graph.model import ItemGraph
from shoplm.graph.recall import KGRecommender, core_nodes, personalised_pagerank, walk_matrix
from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, UserBatch
from shoplm.recommend.registry import create, load_model
from shoplm.schema import Event, Item
from shoplm.store.base import EventColumns


def columns(events: list[Event]) -> EventColumns:
    n = len(events)
    return EventColumns(
        user_ids=np.array([e.user_id for e in events], dtype=object),
        item_ids=np.array([e.item_id for e in events], dtype=object),
        types=np.array([e.type.value for e in events], dtype=object),
        values=np.full(n, np.nan),
        timestamps=np.array([e.timestamp for e in events]),
        session_ids=np.array([""] * n, dtype=object),
    )


@pytest.fixture()
def data(shop_items: list[Item], shop_events: list[Event]) -> Interactions:
    return Interactions.from_events(columns(shop_events), [i.item_id for i in shop_items])


def scores_for(model: KGRecommender, data: Interactions, history: list[str]) -> dict[str, float]:
    batch = UserBatch(np.array([-1]), [data.history_rows(history)])
    row = model.score(batch)[0]
    return {item_id: float(row[i]) for i, item_id in enumerate(data.item_ids)}


def test_catalog_only_walk_ranks_same_brand_and_category_items_first(
    shop_items: list[Item], data: Interactions
) -> None:
    plain = [item.model_copy(update={"attributes": {}}) for item in shop_items]
    graph = build_graph(plain)  # no attributes: only brand and category paths
    model = KGRecommender(weights={"behaviour": 0.0})  # and no walks along baskets
    model.fit(data, FitContext(items=shop_items, options={"graph": graph}))
    scores = scores_for(model, data, ["p1"])  # an Acme smartphone
    others = {k: v for k, v in scores.items() if k != "p1"}
    ranked = sorted(others, key=lambda k: -others[k])
    assert set(ranked[:2]) == {"p2", "p3"}  # same leaf category / same brand
    assert ranked[2] == "p4"  # same department only
    phones = min(others[i] for i in ("p2", "p3", "p4"))
    assert all(others[i] < phones for i in ("h1", "h2", "h3", "c1", "c2", "c3"))


def test_behaviour_edges_pull_bought_together_items_up(
    shop_items: list[Item], shop_events: list[Event], data: Interactions
) -> None:
    graph = build_graph(shop_items, shop_events)
    model = KGRecommender()
    model.fit(data, FitContext(items=shop_items, options={"graph": graph}))
    scores = scores_for(model, data, ["c3"])
    assert max((s, k) for k, s in scores.items() if k != "c3")[1] == "c1"
    assert scores["h2"] > scores["h1"]  # viewed with c3 by one coffee buyer


def test_switching_a_family_off_removes_its_paths(
    shop_items: list[Item], data: Interactions
) -> None:
    graph = build_graph(shop_items)
    model = KGRecommender(weights={"brand": 0.0, "behaviour": 0.0})
    model.fit(data, FitContext(options={"graph": graph}))
    scores = scores_for(model, data, ["c1"])
    assert scores["c3"] == pytest.approx(scores["c2"])  # Brewmaster brand no longer counts


def test_behaviour_comes_from_the_fitted_interactions_not_the_graph(
    shop_items: list[Item], shop_events: list[Event], data: Interactions
) -> None:
    """A fit on a split must not walk edges that the split's held-out events made."""
    graph = build_graph(shop_items, shop_events)  # u4 viewed c3 then h2: a c3-h2 edge
    without_u4 = [e for e in shop_events if e.user_id != "u4"]
    split = Interactions.from_events(columns(without_u4), data.item_ids)
    model = KGRecommender(weights={"brand": 0.0, "category": 0.0, "attribute": 0.0})
    model.fit(split, FitContext(options={"graph": graph}))
    assert not model.graph.has_edge(
        model.graph.item_node("c3"), model.graph.item_node("h2"), "co_view"
    )
    scores = scores_for(model, split, ["c3"])
    assert scores["h2"] == 0.0 and scores["c1"] > 0.0  # c1-c3 is still bought together by u3
    assert graph.counts()["edges"]["co_view"] > 0  # the platform's graph is left as it was


def test_kg_is_registered_and_round_trips(
    tmp_path: Path, shop_items: list[Item], shop_events: list[Event], data: Interactions
) -> None:
    model = create("kg", alpha=0.4, steps=4, weights={"attribute": 0.5})
    model.fit(data, FitContext(options={"graph": build_graph(shop_items, shop_events)}))
    batch = UserBatch.for_training_users(data, np.arange(data.n_users))
    before = model.score(batch)
    model.save(tmp_path / "kg")
    loaded = load_model(tmp_path / "kg")
    assert isinstance(loaded, KGRecommender)
    assert loaded.weights["attribute"] == 0.5 and loaded.steps == 4
    np.testing.assert_allclose(loaded.score(batch), before, rtol=1e-6)
    assert before.shape == (data.n_users, data.n_items) and before.dtype == np.float32


def test_without_a_graph_the_model_builds_its_own(
    shop_items: list[Item], data: Interactions
) -> None:
    model = KGRecommender()
    model.fit(data, FitContext(items=shop_items))
    assert isinstance(model.graph, ItemGraph)
    scores = scores_for(model, data, ["p1"])
    assert scores["p3"] > scores["c2"]


def test_a_user_without_history_scores_zero(shop_items: list[Item], data: Interactions) -> None:
    model = KGRecommender()
    model.fit(data, FitContext(items=shop_items))
    empty = UserBatch(np.array([-1]), [np.zeros(0, dtype=np.int64)])
    assert not model.score(empty).any()


def test_bad_parameters_are_refused(shop_items: list[Item], data: Interactions) -> None:
    with pytest.raises(ValueError, match="alpha"):
        KGRecommender(alpha=1.5)
    with pytest.raises(ValueError, match="negative"):
        KGRecommender(weights={"brand": -1.0})
    model = KGRecommender(weights={"colour": 1.0})
    with pytest.raises(ValueError, match="unknown edge groups"):
        model.fit(data, FitContext(items=shop_items))


def test_walk_prunes_dead_ends_and_is_row_stochastic(
    shop_items: list[Item], shop_knowledge: tuple
) -> None:
    triples, links = shop_knowledge
    graph = build_graph(shop_items, triples=triples, item_entity=links)
    transition, core, _ = walk_matrix(graph, {"brand": 1, "category": 1, "knowledge": 1})
    town = graph.node("entity", "ent:town")
    assert town not in core  # one neighbour: a dead end
    assert graph.node("entity", "ent:factory") in core
    sums = np.asarray(transition.sum(axis=1)).ravel()
    assert np.allclose(sums[sums > 0], 1.0, atol=1e-5)
    assert set(core_nodes(graph, graph.adjacency()).tolist()) >= set(
        graph.nodes_of_type("item").tolist()
    )


def test_sparse_first_steps_walk_the_same_mass_as_full_passes() -> None:
    """The one-user shortcut (reading only the rows that hold mass) changes no score."""
    rng = np.random.default_rng(7)
    n = 400
    dense = (rng.random((n, n)) < 0.01) * rng.random((n, n))
    dense /= np.maximum(dense.sum(axis=1, keepdims=True), 1e-12)  # row-stochastic (or empty)
    transition = sp.csr_matrix(dense.astype(np.float32))
    seeds = np.zeros((n, 2), dtype=np.float32)
    seeds[[3, 50, 51], 0] = [0.5, 0.25, 0.25]
    seeds[7, 1] = 1.0
    full = personalised_pagerank(transition.T.tocsr(), seeds, 0.3, 6)
    shortcut = personalised_pagerank(transition.T.tocsr(), seeds, 0.3, 6, forward=transition)
    assert np.abs(full).sum() > 0
    np.testing.assert_allclose(shortcut, full, rtol=1e-5, atol=1e-7)
