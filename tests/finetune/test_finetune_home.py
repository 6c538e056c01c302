"""A home's fine-tuning validates with the half-life its content model really uses."""

from __future__ import annotations

from pathlib import Path

from shoplm.engine import Engine
from shoplm.finetune.home import content_half_life
from shoplm.recommend.content import DEFAULT_HALF_LIFE, ContentModel


def test_content_half_life_is_the_fitted_models_else_the_default(
    tmp_path: Path, tiny_items: list[dict], tiny_events: list[dict]
) -> None:
    with Engine.open(tmp_path / "home") as engine:
        engine.upsert_items(tiny_items)
        engine.add_events(tiny_events)
        before_fit = content_half_life(engine, "default")
        assert before_fit == ContentModel().half_life == DEFAULT_HALF_LIFE == 5.0
        engine.settings.recommend.params = {"content": {"half_life": 2.0}}
        engine.fit(models=["content"])
        assert content_half_life(engine, "default") == 2.0
