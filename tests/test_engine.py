"""The Engine end to end on a tiny shop with the real encoder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from shoplm.config import EncoderSettings, RecommendSettings
from shoplm.engine import Engine, NotFittedError, UnknownPlatformError, _history_phrase
from shoplm.finetune.manifest import FOLDER_MARKER
from shoplm.schema import Item
from shoplm.search.pipeline import SearchCandidate
from shoplm.text.cache import text_hash
from shoplm.text.encoder import TextEncoder


@pytest.fixture(scope="module")
def fitted_home(
    tmp_path_factory: pytest.TempPathFactory, tiny_items: list[dict], tiny_events: list[dict]
) -> Path:
    home = tmp_path_factory.mktemp("engine") / "home"
    with Engine.open(home) as engine:
        engine.upsert_items(tiny_items)
        engine.add_events(tiny_events)
        engine.fit()
    return home


def test_search_finds_phones_first(fitted_home: Path) -> None:
    with Engine.open(fitted_home) as engine:
        hits = engine.search("smartphone", k=3)
    assert hits[0].item_id in {"p1", "p2"}
    assert {h.item_id for h in hits[:2]} == {"p1", "p2"}
    assert hits[0].item is not None and "smartphone" in hits[0].item.title
    assert "matched 'smartphone'" in hits[0].reason


def test_personal_search_reasons_name_only_history_items_near_the_hit(fitted_home: Path) -> None:
    with Engine.open(fitted_home) as engine:
        coffee_fan_on_headphones = engine.search("headphones", user_id="u4", k=3)
        coffee_fan_on_coffee = engine.search("coffee", user_id="u4", k=3)
        earbud_owner = engine.search("wireless earbuds", user_id="u7", k=3)
    # Coffee things are no explanation for headphones (cosine about 0.2).
    assert all("close to your" not in h.reason for h in coffee_fan_on_headphones)
    assert all(h.sources["history"] < 0.5 for h in coffee_fan_on_headphones)
    # u4 bought all three coffee items: each hit is one of them.
    assert {h.item_id for h in coffee_fan_on_coffee} == {"c1", "c2", "c3"}
    assert all(h.reason.endswith("you showed interest in it before") for h in coffee_fan_on_coffee)
    # u7 has h1 and h2; h3, other earbuds, is near enough to name the one it resembles.
    other = next(h for h in earbud_owner if h.item_id == "h3")
    assert other.sources["history"] >= 0.5
    assert "close to your Sonic wireless earbuds" in other.reason


@pytest.mark.parametrize("method", ["bm25", "dense", "hybrid"])
def test_each_search_method_answers(fitted_home: Path, method: str) -> None:
    with Engine.open(fitted_home) as engine:
        hits = engine.search("coffee grinder", k=3, method=method)
    assert hits[0].item_id == "c2"


def test_search_filters_apply(fitted_home: Path) -> None:
    with Engine.open(fitted_home) as engine:
        hits = engine.search("headphones", k=10, filters={"max_price": 150})
        branded = engine.search("headphones", k=10, filters={"brands": ["Bassline"]})
    assert hits and all(h.item.price <= 150 for h in hits)
    assert [h.item_id for h in branded] == ["h3"]


def test_recommend_follows_the_users_taste(fitted_home: Path) -> None:
    with Engine.open(fitted_home) as engine:
        hits = engine.recommend("u5", k=3)
    assert hits[0].item_id == "c1"  # bought by both other coffee buyers
    assert "c2" not in {h.item_id for h in hits}  # already bought
    assert hits[0].reason


def test_new_user_gets_popular_items(fitted_home: Path) -> None:
    with Engine.open(fitted_home) as engine:
        hits = engine.recommend("never-seen", k=3)
    assert len(hits) == 3
    assert hits[0].reason == "popular with shoppers"


def test_new_user_gets_popular_items_from_a_named_model_too(fitted_home: Path) -> None:
    """Content scores every item 0 for a shopper with no history: the list would be the
    catalog in stored order, so the popular items answer, and say why."""
    with Engine.open(fitted_home) as engine:
        popular = engine.recommend("never-seen", k=3, model="popularity")
        named = engine.recommend("never-seen", k=3, model="content")
        with pytest.raises(ValueError, match="model 'sasrec' is not fitted"):
            engine.recommend("never-seen", model="sasrec")
        with pytest.raises(ValueError, match="model 'sasrec' is not fitted"):
            engine.rank_users(["u5"], model="sasrec")  # checked once, before any batch
        known = engine.recommend("u5", k=3, model="content")
    assert [h.item_id for h in named] == [h.item_id for h in popular]
    assert [h.score for h in named] == [h.score for h in popular] and popular[0].score > 0
    assert popular[0].reason == "popular with shoppers"
    assert named[0].reason == "popular with shoppers (no history yet for content)"
    assert "no history" not in known[0].reason


def test_a_blend_of_unfitted_models_falls_back_to_the_default_blend(
    tmp_path: Path, tiny_items: list[dict], tiny_events: list[dict]
) -> None:
    """The best preset serves the hybrid; a fit made before any event has no hybrid yet, and
    a shopper's first events must still get an answer before the next fit."""
    best = RecommendSettings.preset("best").model_dump()
    with Engine.open(tmp_path / "young", recommend=best) as engine:
        engine.upsert_items(tiny_items)
        report = engine.fit()
        assert "hybrid" not in report["models"]
        engine.add_events(tiny_events)
        hits = engine.recommend("u5", k=3)
    # u5 took c2 and c3: the content model finds the third coffee item
    assert hits[0].item_id == "c1" and hits[0].reason.endswith("(content)")


def test_fresh_event_changes_the_next_answer(fitted_home: Path) -> None:
    with Engine.open(fitted_home) as engine:
        before = [h.item_id for h in engine.recommend("newbie", k=3)]
        engine.add_events(
            [{"user_id": "newbie", "item_id": "c3", "type": "purchase", "timestamp": 1_800_000_000}]
        )
        after = [h.item_id for h in engine.recommend("newbie", k=3)]
    assert before != after
    assert set(after) & {"c1", "c2"}


def test_similar_items(fitted_home: Path) -> None:
    with Engine.open(fitted_home) as engine:
        hits = engine.similar("h1", k=2)
    assert "h1" not in {h.item_id for h in hits}
    assert {h.item_id for h in hits} <= {"h2", "h3"}


def test_fit_survives_reopen_and_reports_platform(fitted_home: Path) -> None:
    with Engine.open(fitted_home) as engine:
        stats = engine.stats()
    assert stats == {"default": {"items": 10, "events": 21, "fitted": True}}


def test_close_closes_the_embedding_cache(fitted_home: Path) -> None:
    with Engine.open(fitted_home) as engine:
        engine.search("phone")
        cache = engine.encoder.cache
        assert cache is not None
        assert cache.count(engine.encoder.model_id) > 0
    with pytest.raises(RuntimeError, match="closed"):
        cache.count(engine.encoder.model_id)


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with Engine.open(tmp_path / "empty") as engine:
        with pytest.raises(NotFittedError, match="shoplm fit"):
            engine.search("phone")
        with pytest.raises(ValueError, match="no items"):
            engine.fit()
        engine.upsert_items(
            [
                {"item_id": "a", "title": "x", "platform": "shop1"},
                {"item_id": "b", "title": "y", "platform": "shop2"},
            ]
        )
        with pytest.raises(UnknownPlatformError, match="name one"):
            engine.fit()
        with pytest.raises(UnknownPlatformError, match="unknown platform"):
            engine.fit("shop3")


def test_bad_item_stores_nothing(tmp_path: Path) -> None:
    with Engine.open(tmp_path / "h") as engine:
        with pytest.raises(ValueError, match="price"):
            engine.upsert_items(
                [{"item_id": "ok", "title": "fine"}, {"item_id": "bad", "title": "x", "price": -1}]
            )
        assert engine.store.count_items() == 0


def test_a_history_reason_says_when_the_make_is_what_is_shared() -> None:
    phone = Item(item_id="p1", title="Acme smartphone", brand="Acme", category="Phones")
    case = Item(item_id="p3", title="Acme phone case", brand="Acme", category="Accessories")
    other_phone = Item(item_id="p2", title="Zeta smartphone", brand="Zeta", category="Phones")
    near = SearchCandidate(row=0, score=1.0, sources={"history": 0.6}, nearest_history_row=2)
    assert _history_phrase(near, phone, {2: case}) == "Acme, like your Acme phone case"
    assert _history_phrase(near, phone, {2: other_phone}) == "close to your Zeta smartphone"
    far = SearchCandidate(row=0, score=1.0, sources={"history": 0.3}, nearest_history_row=2)
    assert _history_phrase(far, phone, {2: case}) is None
    own = SearchCandidate(row=2, score=1.0, sources={"history": 1.0}, nearest_history_row=2)
    assert _history_phrase(own, case, {2: case}) == "you showed interest in it before"


def test_a_home_on_a_tuned_encoder_gives_sasrec_text_the_bases_vectors(
    tmp_path: Path, tiny_base: str, tiny_items: list[dict], tiny_events: list[dict]
) -> None:
    """The base's vectors are encoded only when a model reads them, once, into the cache."""
    tuned = tmp_path / "tuned"  # a "fine-tuned" copy of the tiny base: other weights, its marker
    shutil.copytree(tiny_base, tuned)
    weights = load_file(tuned / "model.safetensors")
    noise = torch.Generator().manual_seed(1)
    save_file(
        {k: v + 0.05 * torch.randn(v.shape, generator=noise) for k, v in weights.items()},
        tuned / "model.safetensors",
    )
    (tuned / FOLDER_MARKER).write_text(json.dumps({"format": 1, "base_model": tiny_base}))
    with Engine.open(tmp_path / "home") as engine:
        engine.settings.encoder.model = str(tuned)
        engine.settings.recommend.params = {"sasrec-text": {"max_epochs": 2, "time_budget_s": None}}
        engine.upsert_items(tiny_items)
        engine.add_events(tiny_events)
        texts = [item.text() for item in engine.store.iter_items("default")]
        hashes = [text_hash(t) for t in texts]
        base_id = engine.base_encoder().model_id
        engine.fit(models=["content"])
        assert engine.encoder.cache.get_many(base_id, hashes) == {}  # no model asked
        report = engine.fit(models=["sasrec-text", "content"])
        assert report["model_reports"]["sasrec-text"]["text_vectors"] == "base"
        cached = engine.encoder.cache.get_many(base_id, hashes)
        tuned_cached = engine.encoder.cache.get_many(engine.encoder.model_id, hashes)
    expected = TextEncoder(EncoderSettings(model=tiny_base)).encode(texts)
    np.testing.assert_allclose(np.stack([cached[h] for h in hashes]), expected, atol=1e-5)
    assert not np.allclose(np.stack([tuned_cached[h] for h in hashes]), expected, atol=1e-3)
