"""Explanation coverage: every top-10 recommendation of every user, its path checked.

A small shop (brands, category paths, a few uncategorised items, baskets) is fitted through
the Engine; for each user the top 10 of kg, the hybrid (with kg among its sources) and the
blend are explained, and each explanation's path is verified here, edge by edge, against
the fitted graph.  The share with a faithful path must be at least 95%.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from shoplm.engine import Engine
from shoplm.graph.model import ItemGraph

SUBCATEGORIES = {
    "Office > Paper": ("Sheetco", "Papyra"),
    "Office > Pens": ("Inkwell", "Quillo"),
    "Electronics > Phones": ("Ringer", "Dialtone"),
    "Electronics > Cables": ("Wirely", "Ringer"),
}
UNCATEGORISED = ("gift card", "mystery box")
MODELS = ("kg", "hybrid", "blend")
HYBRID = {
    "sources": {"itemknn": {}, "content": {}, "popularity": {}, "kg": {}},
    "per_source": 10,
    "hidden": 8,
    "epochs": 10,
}


def shop() -> tuple[list[dict], list[dict]]:
    """24 categorised items, 2 bare ones; 40 users who mostly stay in one subcategory."""
    items = []
    for category, brands in SUBCATEGORIES.items():
        for n in range(6):
            items.append(
                {
                    "item_id": f"{category.split(' > ')[1].lower()}{n}",
                    "title": f"{brands[n % 2]} {category.split(' > ')[1].lower()} model {n}",
                    "category": category,
                    "brand": brands[n % 2],
                    "attributes": {"colour": ("black", "white", "blue")[n % 3]},
                }
            )
    items += [{"item_id": name.replace(" ", "-"), "title": name} for name in UNCATEGORISED]
    by_category: dict[str, list[str]] = {}
    for item in items:
        by_category.setdefault(item.get("category", ""), []).append(item["item_id"])
    rng = random.Random(7)
    events = []
    for user in range(40):
        own = by_category[list(SUBCATEGORIES)[user % 4]]
        basket = rng.sample(own, 3)
        if user % 5 == 0:  # a few baskets cross over, one holds a bare item
            basket.append(rng.choice(by_category[list(SUBCATEGORIES)[(user + 1) % 4]]))
        if user % 10 == 0:
            basket.append(UNCATEGORISED[user % 20 // 10].replace(" ", "-"))
        for position, item_id in enumerate(basket):
            events.append(
                {
                    "user_id": f"u{user:02d}",
                    "item_id": item_id,
                    "type": "purchase",
                    "timestamp": 1_700_000_000 + 86_400 * position,
                }
            )
    return items, events


def path_is_in_graph(graph: ItemGraph, out: dict, history: set[str], item_id: str) -> bool:
    """Our own check: item -> ... -> item, from the user's history, every edge real."""
    path, edges = out["path"], out["edges"]
    if len(path) < 2 or len(edges) != len(path) - 1:
        return False
    if path[0]["type"] != "item" or path[-1]["type"] != "item":
        return False
    if graph.node_keys[path[0]["node"]] not in history:
        return False
    if graph.node_keys[path[-1]["node"]] != item_id:
        return False
    for step, edge, following in zip(path, edges, path[1:], strict=False):
        a, b = step["node"], following["node"]
        if (edge["source"], edge["target"]) != (a, b):
            return False
        if graph.node_name(a) != step["id"] or graph.node_name(b) != following["id"]:
            return False
        code = graph.edge_type_id(edge["type"])
        ids = graph.edges_between(a, b)
        if code is None or not (graph.etype[ids] == code).any():
            return False
    return True


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    items, events = shop()
    path = tmp_path_factory.mktemp("coverage") / "home"
    with Engine.open(path) as engine:
        engine.upsert_items(items)
        engine.add_events(events)
        engine.settings.recommend.params = {"hybrid": HYBRID}
        engine.fit(models=["popularity", "itemknn", "content", "kg", "hybrid"])
    return path


@pytest.fixture(scope="module")
def checked(home: Path) -> dict[str, dict]:
    """Per model: recommendations made, faithful ones, and the explanations seen."""
    report: dict[str, dict] = {}
    with Engine.open(home) as engine:
        graph = engine.graph()
        users = sorted({event["user_id"] for event in shop()[1]})
        for model in MODELS:
            made = faithful = 0
            kinds: dict[str, int] = {}
            for user in users:
                history = {e.item_id for e in engine.store.user_events("default", user)}
                for hit in engine.recommend(user, k=10, model=model):
                    made += 1
                    out = engine.explain(user, hit.item_id)
                    if path_is_in_graph(graph, out, history, hit.item_id):
                        faithful += 1
                        kinds[out["kind"]] = kinds.get(out["kind"], 0) + 1
                    assert out["faithful"] == path_is_in_graph(graph, out, history, hit.item_id)
            report[model] = {"made": made, "faithful": faithful, "kinds": kinds, "users": users}
    return report


@pytest.mark.parametrize("model", MODELS)
def test_at_least_95_percent_of_top_10_carry_a_faithful_path(checked: dict, model: str) -> None:
    row = checked[model]
    assert row["made"] == 10 * len(row["users"]) == 400
    assert row["faithful"] / row["made"] >= 0.95, row
    assert len(row["kinds"]) >= 2  # not one trivial kind of path for everything


def test_the_check_rejects_paths_that_are_not_in_the_graph(home: Path) -> None:
    with Engine.open(home) as engine:
        graph = engine.graph()
        user = "u01"
        history = {e.item_id for e in engine.store.user_events("default", user)}
        item_id = engine.recommend(user, k=1, model="kg")[0].item_id
        out = engine.explain(user, item_id)
        assert path_is_in_graph(graph, out, history, item_id)
        wrong_type = {**out, "edges": [{**out["edges"][0], "type": "co_view"}, *out["edges"][1:]]}
        assert not path_is_in_graph(graph, wrong_type, history, item_id)
        assert not path_is_in_graph(graph, out, {"nothing-bought"}, item_id)
        assert not path_is_in_graph(graph, out, history, "gift-card")
