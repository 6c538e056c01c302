"""Registry: model names <-> classes, and loading a saved folder of any kind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shoplm.interactions import Interactions
from shoplm.recommend.als import ALS
from shoplm.recommend.base import MANIFEST, FitContext, UserBatch
from shoplm.recommend.bpr import BPR
from shoplm.recommend.content import ContentModel
from shoplm.recommend.itemknn import ItemKNN
from shoplm.recommend.popularity import Popularity
from shoplm.recommend.registry import MODEL_CLASSES, create, load_model, model_class

CORE = {
    "popularity": Popularity,
    "itemknn": ItemKNN,
    "als": ALS,
    "bpr": BPR,
    "content": ContentModel,
}
KNOWN = ", ".join(sorted(MODEL_CLASSES))  # later models may join the registry

SMALL_PARAMS = {
    "popularity": {},
    "itemknn": {"neighbours": 5},
    "als": {"factors": 2, "iterations": 3},
    "bpr": {"factors": 2, "iterations": 5},
    "content": {"half_life": 2.0},
}


def test_every_model_is_registered_under_its_name() -> None:
    assert {name: MODEL_CLASSES[name] for name in CORE} == CORE
    assert all(model_class(name).name == name for name in MODEL_CLASSES)


def test_unknown_name_lists_the_known_models() -> None:
    with pytest.raises(ValueError, match=f"unknown recommender 'nosuch'; known models: {KNOWN}"):
        create("nosuch")
    with pytest.raises(ValueError, match="known models"):
        model_class("ALS")


def test_create_passes_parameters() -> None:
    model = create("itemknn", neighbours=7, shrink=0.0)
    assert isinstance(model, ItemKNN) and model.neighbours == 7
    assert model.params == {"neighbours": 7, "shrink": 0.0, "binary": True, "half_life": None}


def test_create_with_an_unknown_parameter_names_the_model() -> None:
    with pytest.raises(ValueError, match=r"bad parameters for recommender 'als'.*neighbours"):
        create("als", neighbours=3)


@pytest.mark.parametrize("name", sorted(SMALL_PARAMS))
def test_load_model_round_trip(
    name: str,
    two_groups: Interactions,
    context: FitContext,
    all_users: UserBatch,
    tmp_path: Path,
) -> None:
    model = create(name, **SMALL_PARAMS[name])
    model.fit(two_groups, context)
    model.save(tmp_path / name)
    manifest = json.loads((tmp_path / name / MANIFEST).read_text())
    assert manifest["model"] == name and manifest["n_items"] == two_groups.n_items
    loaded = load_model(tmp_path / name)
    assert type(loaded) is type(model) and loaded.params == model.params
    assert np.array_equal(loaded.score(all_users), model.score(all_users))


def test_load_model_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"holds no saved model \(manifest.json"):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="holds no saved model"):
        load_model(tmp_path / "missing")


def test_load_model_with_a_bad_manifest(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({"params": {}}))
    with pytest.raises(ValueError, match="no 'model' field"):
        load_model(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"model": "magic", "params": {}, "n_items": 1}))
    with pytest.raises(ValueError, match=f"unknown recommender 'magic'; known models: {KNOWN}"):
        load_model(tmp_path)


def test_loading_with_the_wrong_class_is_refused(
    two_groups: Interactions, context: FitContext, tmp_path: Path
) -> None:
    model = Popularity()
    model.fit(two_groups, context)
    model.save(tmp_path)
    with pytest.raises(ValueError, match="holds a 'popularity' model, not 'itemknn'"):
        ItemKNN.load(tmp_path)


def test_saved_arrays_are_not_pickles(
    two_groups: Interactions, context: FitContext, tmp_path: Path
) -> None:
    model = create("itemknn")
    model.fit(two_groups, context)
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arrays.safetensors", MANIFEST]
