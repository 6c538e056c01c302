"""Rating models by the names results and saved manifests use."""

from __future__ import annotations

import json
from pathlib import Path

from shoplm.recommend.rating.base import MANIFEST, RatingModel
from shoplm.recommend.rating.baselines import BiasBaseline, GlobalMean
from shoplm.recommend.rating.factor import BiasedMF, TextMF

RATING_MODELS: dict[str, type[RatingModel]] = {
    cls.name: cls for cls in (GlobalMean, BiasBaseline, BiasedMF, TextMF)
}


def load_rating_model(folder: Path | str) -> RatingModel:
    """Whichever rating model ``folder`` holds, told from its manifest."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{folder} holds no saved rating model ({MANIFEST} is missing)")
    name = json.loads(path.read_text()).get("model")
    if name not in RATING_MODELS:
        raise ValueError(f"{folder} holds an unknown rating model {name!r}")
    return RATING_MODELS[name].load(folder)
