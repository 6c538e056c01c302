"""Explicit-feedback rating prediction: baselines, biased MF, and MF with text priors.

Every model has ``fit(users, items, ratings)``, ``predict(users, items)`` (clipped to the
rating scale) and ``save`` / ``load`` (safetensors + JSON).  ``tune_model`` picks a model's
hyperparameters on validation ratings.
"""

from shoplm.recommend.rating.base import DEFAULT_SCALE, ItemVectors, RatingModel
from shoplm.recommend.rating.baselines import BiasBaseline, GlobalMean
from shoplm.recommend.rating.factor import BiasedMF, TextMF
from shoplm.recommend.rating.registry import RATING_MODELS, load_rating_model
from shoplm.recommend.rating.tuning import DEFAULT_GRIDS, TuningResult, tune_model

__all__ = [
    "DEFAULT_GRIDS",
    "DEFAULT_SCALE",
    "RATING_MODELS",
    "BiasBaseline",
    "BiasedMF",
    "GlobalMean",
    "ItemVectors",
    "RatingModel",
    "TextMF",
    "TuningResult",
    "load_rating_model",
    "tune_model",
]
