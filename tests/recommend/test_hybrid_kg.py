"""The hybrid's knowledge-graph source, and hybrid-no-kg (the same hybrid without it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shoplm.graph.build import build_graph
from shoplm.graph.model import ItemGraph
from shoplm.graph.recall import KGRecommender
from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, UserBatch
from shoplm.recommend.hybrid import DEFAULT_SOURCES, Hybrid, HybridNoKG
from shoplm.recommend.itemknn import ItemKNN
from shoplm.recommend.registry import create, load_model

SMALL = {"per_source": 4, "hidden": 8, "epochs": 40, "lr": 0.03, "threads": 1}
SOURCES = {"itemknn": {"neighbours": 10}, "popularity": {}, "kg": {}}


@pytest.fixture(scope="module")
def graph_context(groups, group_embeddings: np.ndarray) -> FitContext:
    items = groups.items()
    return FitContext(
        items=items,
        item_embeddings=group_embeddings,
        seed=5,
        options={"graph": build_graph(items)},
    )


def test_kg_is_a_default_source_and_the_ablation_drops_only_it() -> None:
    assert "kg" in DEFAULT_SOURCES and "kg" in Hybrid().params["sources"]
    without = HybridNoKG().params["sources"]
    assert set(without) == set(DEFAULT_SOURCES) - {"kg"}
    assert HybridNoKG.name == "hybrid-no-kg" and isinstance(create("hybrid-no-kg"), HybridNoKG)
    with pytest.raises(ValueError, match="cannot have the 'kg' source"):
        HybridNoKG(sources={"kg": {}, "popularity": {}})
    with pytest.raises(ValueError, match="its own source"):
        Hybrid(sources={"hybrid-no-kg": {}})


def test_kg_scores_and_ranks_become_ranker_features(
    two_groups: Interactions, graph_context: FitContext, all_users: UserBatch, groups
) -> None:
    model = Hybrid(sources=SOURCES, **SMALL)
    model.fit(two_groups, graph_context)
    assert sorted(model.models) == ["itemknn", "kg", "popularity"]
    assert isinstance(model.models["kg"], KGRecommender)
    assert len(model.feature_mean) == 2 * 3 + 12
    batch = UserBatch.for_training_users(two_groups, np.arange(4))
    _, valid, x, _ = model._candidate_features(model.models, batch)
    kg_z, kg_rank = x[..., 4], x[..., 5]  # sources in order: itemknn, popularity, kg
    assert np.ptp(kg_z[valid]) > 0 and kg_rank[valid].max() == 1.0
    training_groups = [groups.user_group(u) for u in two_groups.user_ids]
    assert groups.misranked(model.score(all_users), training_groups, all_users.histories) == []


def test_without_the_platform_graph_kg_is_left_out(
    two_groups: Interactions, group_embeddings: np.ndarray
) -> None:
    model = Hybrid(sources=SOURCES, **SMALL)
    model.fit(two_groups, FitContext(item_embeddings=group_embeddings, seed=5))
    assert sorted(model.models) == ["itemknn", "popularity"]
    assert len(model.feature_mean) == 2 * 3 + 12  # kg's columns stay, as zeros


def test_a_source_named_without_parameters_takes_the_platform_fit(
    two_groups: Interactions, graph_context: FitContext
) -> None:
    tuned = ItemKNN(neighbours=3)
    tuned.fit(two_groups, graph_context)
    graph_context.options["fitted_models"] = {"itemknn": tuned}
    try:
        plain = Hybrid(sources={"itemknn": {}, "popularity": {}}, **SMALL)
        plain.fit(two_groups, graph_context)
        pinned = Hybrid(sources={"itemknn": {"neighbours": 10}, "popularity": {}}, **SMALL)
        pinned.fit(two_groups, graph_context)
    finally:
        graph_context.options.pop("fitted_models")
    assert plain.models["itemknn"] is tuned
    assert plain.params["sources"]["itemknn"] == tuned.params  # saved with what it used
    assert pinned.models["itemknn"] is not tuned


def test_hybrid_and_ablation_share_the_validation_fits_and_round_trip(
    two_groups: Interactions, graph_context: FitContext, all_users: UserBatch, tmp_path: Path
) -> None:
    with_kg = Hybrid(sources=SOURCES, **SMALL)
    with_kg.fit(two_groups, graph_context)
    shared = graph_context.options["hybrid_inner_models"]
    before = dict(shared["models"])
    ablation = HybridNoKG(sources={k: v for k, v in SOURCES.items() if k != "kg"}, **SMALL)
    ablation.fit(two_groups, graph_context)
    assert shared["models"] == before  # itemknn and popularity were not fitted again
    assert "kg" not in ablation.models and len(ablation.feature_mean) == 2 * 2 + 12
    ablation.save(tmp_path / "ablation")
    loaded = load_model(tmp_path / "ablation")
    assert isinstance(loaded, HybridNoKG) and loaded.name == "hybrid-no-kg"
    assert np.allclose(loaded.score(all_users), ablation.score(all_users), atol=1e-5)


def pair_counts(histories: list[np.ndarray], window: int = 5) -> dict[tuple[int, int], int]:
    """How often two items sit within ``window`` places of each other in a history."""
    counts: dict[tuple[int, int], int] = {}
    for history in histories:
        rows = history.tolist()
        for i, later in enumerate(rows):
            for earlier in rows[max(0, i - window) : i]:
                if earlier != later:
                    key = (min(earlier, later), max(earlier, later))
                    counts[key] = counts.get(key, 0) + 1
    return counts


def test_the_ranker_learns_from_a_kg_without_the_held_out_items(
    two_groups: Interactions, graph_context: FitContext
) -> None:
    """Inside the hybrid, kg is refitted on the validation split: its basket edges come
    from the split's histories alone, never from the held-out newest items."""
    model = Hybrid(sources=SOURCES, **SMALL)
    model.fit(two_groups, graph_context)
    shared = graph_context.options["hybrid_inner_models"]
    inner_kg = next(m for key, m in shared["models"].items() if key.startswith("kg "))
    expected = pair_counts(shared["held"].inner.histories)
    full = pair_counts(two_groups.histories)
    graph: ItemGraph = inner_kg.graph
    nodes = graph.item_nodes(two_groups.item_ids)
    changed = 0
    for a in range(two_groups.n_items):
        for b in range(a + 1, two_groups.n_items):
            weight = graph.edge_weight(int(nodes[a]), int(nodes[b]), "co_view")
            assert weight == pytest.approx(expected.get((a, b), 0), abs=1e-3)
            changed += expected.get((a, b), 0) != full.get((a, b), 0)
    assert changed > 0  # the held-out items did make edges in the full data
    full_graph = model.models["kg"].graph
    assert full_graph.edge_weight(int(nodes[0]), int(nodes[1]), "co_view") == pytest.approx(
        full.get((0, 1), 0), abs=1e-3
    )
