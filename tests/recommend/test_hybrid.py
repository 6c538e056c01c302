"""Hybrid: pooled candidates re-ranked by a ranker learned on the held-out newest items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shoplm.interactions import Interactions
from shoplm.realtime.live_models import PaddedModel
from shoplm.recommend.base import FitContext, UserBatch
from shoplm.recommend.blend import standardise
from shoplm.recommend.hybrid import Hybrid, _unique_rows
from shoplm.recommend.itemknn import ItemKNN
from shoplm.recommend.registry import load_model

FAST = {
    "sources": {"itemknn": {"neighbours": 10}, "content": {}, "popularity": {}},
    "per_source": 4,
    "hidden": 8,
    "epochs": 60,
    "lr": 0.03,
    "threads": 1,
}


@pytest.fixture(scope="module")
def fitted(two_groups: Interactions, group_embeddings: np.ndarray, groups) -> Hybrid:
    model = Hybrid(**FAST)
    context = FitContext(
        items=groups.items(),
        item_embeddings=group_embeddings,
        seed=5,
    )
    model.fit(two_groups, context)
    return model


def test_users_get_their_group_first(
    fitted: Hybrid, all_users: UserBatch, training_groups: list[int], groups
) -> None:
    scores = fitted.score(all_users)
    assert scores.shape == (len(all_users), groups.n_items) and scores.dtype == np.float32
    assert np.isfinite(scores).all()
    assert groups.misranked(scores, training_groups, all_users.histories) == []


def test_ranker_learned_from_held_out_items(fitted: Hybrid) -> None:
    assert fitted.report["train_users"] == 40  # every user has three items, one held out
    assert fitted.report["candidate_recall"] == 1.0  # 12 items, 3 sources x 4 candidates
    assert sorted(fitted.models) == ["content", "itemknn", "popularity"]
    assert len(fitted.feature_mean) == 2 * 3 + 12


def test_candidates_outrank_the_rest(fitted: Hybrid, groups) -> None:
    batch = UserBatch(np.array([-1]), [np.array([0, 1], dtype=np.int64)])
    candidates, valid, features, _ = fitted._candidate_features(fitted.models, batch)
    scores = fitted.score(batch)[0]
    chosen = set(candidates[0][valid[0]].tolist())
    assert {0, 1}.isdisjoint(chosen)  # seen items are never candidates
    others = [i for i in range(groups.n_items) if i not in chosen]
    assert scores[list(chosen)].min() > scores[others].max()
    assert features.shape[:2] == candidates.shape


def test_items_added_after_the_fit_come_after_every_item(
    fitted: Hybrid, all_users: UserBatch, groups
) -> None:
    candidates, valid, _, _ = fitted._candidate_features(fitted.models, all_users)
    picked = np.take_along_axis(fitted.score(all_users), candidates, axis=1)[valid]
    assert (picked < 0).any()  # the ranker's own scale reaches below 0
    live = PaddedModel(fitted, groups.n_items + 2).score(all_users)  # two items since the fit
    # the hybrid recommends its candidates, and a new item is none: it comes after every item
    assert (live[:, groups.n_items :].max(axis=1) < live[:, : groups.n_items].min(axis=1)).all()


def test_a_blend_keeps_the_hybrids_order_among_its_candidates(
    fitted: Hybrid, all_users: UserBatch
) -> None:
    scores = fitted.score(all_users)
    candidates, valid, _, _ = fitted._candidate_features(fitted.models, all_users)
    z = standardise(scores)
    for b in range(len(all_users)):
        own = candidates[b][valid[b]]
        # the candidates keep their spread after standardising (not squeezed by the others)
        assert z[b, own].max() - z[b, own].min() > 0.5
        assert np.array_equal(np.argsort(-z[b, own]), np.argsort(-scores[b, own]))


def test_a_shop_too_young_for_the_ranker_orders_candidates_by_the_sources(
    interactions_from_histories, group_embeddings: np.ndarray, groups, tmp_path: Path
) -> None:
    # no user has three items: nothing is held out, so the ranker cannot learn
    young = interactions_from_histories([np.array([0, 1]), np.array([6, 7])], groups.n_items)
    model = Hybrid(**FAST)
    model.fit(young, FitContext(items=groups.items(), item_embeddings=group_embeddings, seed=5))
    assert not model.ranker_trained and model.report["ranker"].startswith("untrained")
    batch = UserBatch(np.array([0, 1]), list(young.histories))
    candidates, valid, _, mean_order = model._candidate_features(model.models, batch)
    scores = model.score(batch)
    for b in range(len(batch)):
        own = candidates[b][valid[b]]
        assert np.array_equal(np.argsort(-scores[b, own]), np.argsort(-mean_order[b, own]))
    model.save(tmp_path / "young")
    loaded = load_model(tmp_path / "young")
    assert not loaded.ranker_trained
    assert np.allclose(loaded.score(batch), scores)


def test_save_and_load_round_trip(fitted: Hybrid, all_users: UserBatch, tmp_path: Path) -> None:
    fitted.save(tmp_path / "h")
    assert (tmp_path / "h" / "sources" / "itemknn" / "manifest.json").exists()
    loaded = load_model(tmp_path / "h")
    assert isinstance(loaded, Hybrid) and sorted(loaded.models) == sorted(fitted.models)
    assert np.allclose(loaded.score(all_users), fitted.score(all_users), atol=1e-5)


def test_reuses_a_fitted_source_with_the_same_parameters(
    two_groups: Interactions, group_embeddings: np.ndarray
) -> None:
    given = ItemKNN(neighbours=10)
    given.fit(two_groups, FitContext())
    context = FitContext(item_embeddings=group_embeddings, options={"fitted_models": {}})
    context.options["fitted_models"]["itemknn"] = given
    model = Hybrid(**{**FAST, "sources": {"itemknn": {"neighbours": 10}}})
    model.fit(two_groups, context)
    assert model.models["itemknn"] is given
    other = Hybrid(**{**FAST, "sources": {"itemknn": {"neighbours": 3}}})
    other.fit(two_groups, context)
    assert other.models["itemknn"] is not given


def test_same_seed_same_scores(
    fitted: Hybrid, two_groups: Interactions, group_embeddings: np.ndarray, all_users, groups
) -> None:
    again = Hybrid(**FAST)
    again.fit(
        two_groups,
        FitContext(
            items=groups.items(),
            item_embeddings=group_embeddings,
            seed=5,
        ),
    )
    assert np.array_equal(again.score(all_users), fitted.score(all_users))


def test_sources_scored_in_parallel_give_the_same_scores(
    fitted: Hybrid, all_users: UserBatch
) -> None:
    """One request's sources run on a thread pool; the answer must not depend on it."""
    threads = fitted.params["source_threads"]
    try:
        fitted.params["source_threads"] = 1
        one_by_one = fitted.score(all_users)
        fitted.params["source_threads"] = 3
        pooled = [fitted.score(all_users) for _ in range(3)]
    finally:
        fitted.params["source_threads"] = threads
    for scores in pooled:
        assert np.array_equal(scores, one_by_one)
    assert set(fitted._source_cost) == set(fitted.models)  # the pool recorded each cost


def test_sources_that_cannot_fit_are_skipped(two_groups: Interactions) -> None:
    model = Hybrid(**{**FAST, "sources": {"content": {}, "popularity": {}}})
    model.fit(two_groups, FitContext())  # no text vectors: content is skipped
    assert sorted(model.models) == ["popularity"]


def test_the_text_feature_reads_the_base_vectors_and_content_the_tuned_ones(
    two_groups: Interactions, group_embeddings: np.ndarray, groups
) -> None:
    """On a tuned home the closeness feature reads the base's vectors by default, while the
    content source keeps the home's (tuned) ones; ``text_vectors="home"`` reads those too."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=group_embeddings.shape).astype(np.float32)

    def context() -> FitContext:
        return FitContext(
            items=groups.items(), item_embeddings=group_embeddings, seed=5,
            base_vectors=lambda: base,
        )  # fmt: skip

    on_base = Hybrid(**FAST)
    on_base.fit(two_groups, context())
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    np.testing.assert_allclose(on_base.text, unit, rtol=1e-6)
    assert on_base.report["text_vectors"] == "base"
    content = on_base.models["content"].item_embeddings[:, : group_embeddings.shape[1]]
    content = content / np.linalg.norm(content, axis=1, keepdims=True)  # beside its tokens
    tuned = group_embeddings / np.linalg.norm(group_embeddings, axis=1, keepdims=True)
    np.testing.assert_allclose(content, tuned, rtol=1e-5)
    on_home = Hybrid(**FAST, text_vectors="home")
    on_home.fit(two_groups, context())
    np.testing.assert_allclose(on_home.text, tuned, rtol=1e-6)
    assert on_home.report["text_vectors"] == "home"
    with pytest.raises(ValueError, match="text_vectors must be one of"):
        Hybrid(text_vectors="tuned")


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="at least one source"):
        Hybrid(sources={})
    with pytest.raises(ValueError, match="its own source"):
        Hybrid(sources={"hybrid": {}})
    with pytest.raises(ValueError, match="must be positive"):
        Hybrid(per_source=0)
    with pytest.raises(ValueError, match="source_threads must be positive"):
        Hybrid(source_threads=0)


def test_unique_rows_keeps_first_appearance_order() -> None:
    values, valid = _unique_rows(np.array([[3, 1, 3, 2], [5, 5, 5, 5]]))
    assert values.shape == (2, 3)
    assert values[0].tolist() == [3, 1, 2] and valid[0].all()
    assert values[1][valid[1]].tolist() == [5] and valid[1].tolist() == [True, False, False]
