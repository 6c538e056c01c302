"""A home's fine-tuning validates with the half-life its content model really uses, and
ranks its pairs with the base it tunes from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from shoplm.config import DEFAULT_ENCODER
from shoplm.engine import Engine
from shoplm.finetune.home import content_half_life
from shoplm.finetune.manifest import FOLDER_MARKER
from shoplm.recommend.content import DEFAULT_HALF_LIFE, ContentModel
from shoplm.text.encoder import resolve_model


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


def test_a_home_on_a_tuned_folder_ranks_pairs_with_the_base(tmp_path: Path) -> None:
    tuned = tmp_path / "tuned"  # stands in for a merged folder: its marker names the base
    shutil.copytree(resolve_model(DEFAULT_ENCODER), tuned)
    (tuned / FOLDER_MARKER).write_text(json.dumps({"format": 1, "base_model": DEFAULT_ENCODER}))
    with Engine.open(tmp_path / "home") as engine:
        assert engine.base_encoder() is engine.encoder
        engine.settings.encoder.model = str(tuned)
        engine._encoder = None  # reopen the encoder as the new setting says
        base = engine.base_encoder()
        assert base is not engine.encoder and base.settings.model == DEFAULT_ENCODER
        assert engine.encoder.settings.model == str(tuned)
        assert base.cache is engine.encoder.cache  # one vector cache, keyed by model id
        assert base.model_id == DEFAULT_ENCODER != engine.encoder.model_id
