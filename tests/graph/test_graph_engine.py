"""The graph through the Engine: built at fit, saved with the fit, explain and profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoplm.engine import Engine, NotFittedError
from shoplm.evaluation.kg_eval import path_checks_out
from shoplm.graph.model import ItemGraph


@pytest.fixture(scope="module")
def home(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_items: list[dict],
    tiny_events: list[dict],
    shop_knowledge: tuple,
) -> Path:
    triples, links = shop_knowledge
    path = tmp_path_factory.mktemp("graph-engine") / "home"
    with Engine.open(path) as engine:
        engine.upsert_items(tiny_items)
        engine.add_events(tiny_events)
        report = engine.add_knowledge(triples, links)
        assert report == {"triples_added": 4, "triples": 4, "links": 2}
        engine.fit(models=["popularity", "itemknn", "kg"])
    return path


def test_fit_saves_the_graph_with_the_fit(home: Path) -> None:
    with Engine.open(home) as engine:
        graph = engine.graph()
        fit_folder = (
            home / "platforms" / "default" / (home / "platforms/default/current").read_text()
        )
        assert ItemGraph.load(fit_folder / "graph").same_as(graph)
        counts = graph.counts()
        assert counts["nodes"]["item"] == 10
        assert counts["edges"]["kg:made_by"] == 2 and counts["edges"]["co_purchase"] > 0


def test_kg_recommends_through_the_engine(home: Path) -> None:
    with Engine.open(home) as engine:
        hits = engine.recommend("u5", k=3, model="kg")  # bought c2, c3
    assert hits[0].item_id == "c1"
    assert {"c2", "c3"}.isdisjoint(h.item_id for h in hits)


def test_explain_returns_a_path_that_checks_out(home: Path) -> None:
    with Engine.open(home) as engine:
        graph = engine.graph()
        for user, item in (("u5", "c1"), ("u3", "p2"), ("u7", "h3"), ("u1", "h1")):
            out = engine.explain(user, item)
            assert out["faithful"], out
            history = {e.item_id for e in engine.store.user_events("default", user)}
            assert path_checks_out(graph, out, history, item)
            assert out["text"] and out["history_item_id"] in history
        bought_together = engine.explain("u5", "c1")
        assert bought_together["kind"] == "co_purchase"
        via_factory = engine.explain("u1", "h1")  # u1 bought p1, made where h1 is made
        assert via_factory["kind"] == "knowledge"


def test_a_tampered_path_is_caught(home: Path) -> None:
    with Engine.open(home) as engine:
        graph = engine.graph()
        out = engine.explain("u5", "c1")
        out["edges"][0]["type"] = "brand"
        assert not path_checks_out(graph, out, {"c2", "c3"}, "c1")
        assert not path_checks_out(graph, engine.explain("u5", "c1"), {"p1"}, "c1")


def test_explain_without_history_or_for_unknown_items(home: Path) -> None:
    with Engine.open(home) as engine:
        out = engine.explain("stranger", "c1")
        assert out["kind"] == "none" and not out["faithful"] and out["path"] == []
        with pytest.raises(KeyError, match="nope"):
            engine.explain("u5", "nope")


def test_profile_through_the_engine(home: Path) -> None:
    with Engine.open(home) as engine:
        profile = engine.profile("u6")  # c1, c3, h2
    assert profile["platform"] == "default" and profile["n_items"] == 3
    assert profile["top_categories"][0]["category"] == "Kitchen > Coffee"
    assert profile["price_band"]["band"] in {"budget", "mid-range", "premium"}


def test_profile_works_before_any_fit(tmp_path: Path, tiny_items: list[dict]) -> None:
    with Engine.open(tmp_path / "fresh") as engine:
        engine.upsert_items(tiny_items)
        engine.add_events([{"user_id": "u", "item_id": "p1", "type": "view", "timestamp": 1.0}])
        profile = engine.profile("u")
        assert profile["top_brands"][0]["brand"] == "Acme"
        assert "band" not in profile["price_band"]  # no fitted catalog to compare with
        with pytest.raises(NotFittedError):
            engine.explain("u", "p1")
