"""Search through the Engine on a tiny shop with the real encoder: learning, reasons, insight."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from shoplm.engine import Engine
from shoplm.search.clicks import CLICK_SOURCE
from shoplm.search.model import MODEL_FILE
from shoplm.store import SearchClick


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny_items: list[dict]) -> Path:
    path = tmp_path_factory.mktemp("search-engine") / "home"
    with Engine.open(path) as engine:
        engine.upsert_items(tiny_items)
        engine.fit(models=["popularity"])
    return path


def test_default_search_reads_through_typos_and_explains(home: Path) -> None:
    with Engine.open(home) as engine:
        hits = engine.search("smartphnoe", k=2)
        insight = engine.query_insight("smartphnoe")
    assert {h.item_id for h in hits} == {"p1", "p2"}
    assert "read 'smartphnoe' as 'smartphone'" in hits[0].reason
    assert "matched 'smartphone'" in hits[0].reason
    assert "the query's likely category" in hits[0].reason
    assert insight.analyzed.rewritten == "smartphone"
    assert insight.categories[0][0] == "Phones > Smartphones"


def test_fit_search_learns_saves_and_is_used(home: Path) -> None:
    examples = [
        ("coffee grinder", {"c2": 2.0}),
        ("phone case", {"p3": 2.0, "p4": 1.0}),
        ("espresso", {"c1": 2.0}),
        ("earbuds", {"h2": 2.0}),
        ("headphones", {"h1": 2.0, "h3": 2.0, "gone": 1.0}),
    ]
    with Engine.open(home) as engine:
        report = engine.fit_search(examples)
        hits = engine.search("coffee grinder", k=1)
    assert report["examples"] == 5
    assert (home / "platforms" / "default" / MODEL_FILE).is_file()
    assert hits[0].item_id == "c2"
    with Engine.open(home) as engine:  # a fresh engine loads the saved model
        pipeline = engine.search_pipeline(engine.fitted())
        assert pipeline.model.info["n_examples"] == 5
        assert pipeline.model.ranker("rerank").info["source"] == "judgments"


def test_within_filter_and_every_method(home: Path) -> None:
    with Engine.open(home) as engine:
        for method in ("bm25", "dense", "hybrid", "hybrid-learned", "hybrid-rerank"):
            hits = engine.search("phone", k=5, method=method, filters={"item_ids": ["p3", "p4"]})
            assert {h.item_id for h in hits} <= {"p3", "p4"} and hits


def test_fit_learns_search_from_the_home_click_log(
    click_log_home: Path, click_log: list[SearchClick], favour_search: Callable[[bool], None]
) -> None:
    favour_search(True)
    with Engine.open(click_log_home) as engine:
        report = engine.fit(models=["popularity"])["search"]
        assert report["learned"] and report["click_queries"] == len({c.query for c in click_log})
        pipeline = engine.search_pipeline(engine.fitted())
        assert pipeline.model.info["source"] == CLICK_SOURCE  # the fit's pipeline was rebuilt
        assert engine.search("coffee grinder", k=1)[0].item_id == "c2"


def test_fit_uses_the_default_weights_when_the_settings_turn_learning_off(
    click_log_home: Path, favour_search: Callable[[bool], None]
) -> None:
    home = click_log_home
    favour_search(True)
    with Engine.open(home) as engine:
        assert engine.fit(models=["popularity"])["search"]["learned"]
    assert len(list(home.rglob(MODEL_FILE))) == 1  # learned while the setting was on
    (home / "config.json").write_text(json.dumps({"search": {"learn_from_clicks": False}}))
    with Engine.open(home) as engine:
        report = engine.fit(models=["popularity"])["search"]
        assert engine.search_pipeline(engine.fitted()).model.info["source"] == "default"
    assert report == {"learned": False, "reason": "off in the settings (search.learn_from_clicks)"}
    assert not list(home.rglob(MODEL_FILE))
