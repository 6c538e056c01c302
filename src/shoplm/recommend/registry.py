"""Model names -> classes, so settings, the CLI and saved folders name models by string."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shoplm.graph.recall import KGRecommender
from shoplm.recommend.als import ALS
from shoplm.recommend.base import MANIFEST, Recommender
from shoplm.recommend.bpr import BPR
from shoplm.recommend.content import ContentModel
from shoplm.recommend.hybrid import Hybrid, HybridNoKG
from shoplm.recommend.itemknn import ItemKNN
from shoplm.recommend.popularity import Popularity
from shoplm.recommend.sequential import SASRec, SASRecText

MODEL_CLASSES: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (
        Popularity,
        ItemKNN,
        ALS,
        BPR,
        ContentModel,
        KGRecommender,
        SASRec,
        SASRecText,
        Hybrid,
        HybridNoKG,
    )
}


def model_class(name: str) -> type[Recommender]:
    """The class registered under ``name``; the error lists the names that exist."""
    try:
        return MODEL_CLASSES[name]
    except KeyError:
        known = ", ".join(sorted(MODEL_CLASSES))
        raise ValueError(f"unknown recommender {name!r}; known models: {known}") from None


def create(name: str, **params: Any) -> Recommender:
    """A new, unfitted model; ``params`` are its constructor's keyword arguments."""
    cls = model_class(name)
    try:
        return cls(**params)
    except TypeError as error:
        raise ValueError(f"bad parameters for recommender {name!r}: {error}") from None


def load_model(folder: Path | str) -> Recommender:
    """Load a saved model of whichever kind its manifest names."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{folder} holds no saved model ({MANIFEST} is missing)")
    manifest = json.loads(path.read_text())
    if "model" not in manifest:
        raise ValueError(f"{path} has no 'model' field naming the recommender")
    return model_class(manifest["model"]).load(folder)
