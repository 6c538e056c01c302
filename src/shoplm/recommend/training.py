"""Fit a set of recommenders together: settings, tuning on validation, the hybrid last.

The engine's ``fit`` hands over the names; this module decides each model's parameters
(from the settings, or chosen on the validation split when the model is to be tuned),
fits them in an order where the hybrid comes after its sources (so it reuses them instead
of fitting them again), and reports what was chosen and how long each took.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, Recommender
from shoplm.recommend.hybrid import DEFAULT_SOURCES, Hybrid
from shoplm.recommend.registry import create
from shoplm.recommend.tuning import DEFAULT_GRIDS, NOTHING_TO_VALIDATE, tune
from shoplm.recommend.validation import hold_out_last

log = logging.getLogger("shoplm")


@dataclass
class FitResult:
    """Fitted models by name, models skipped (no behaviour to learn from), and a report."""

    models: dict[str, Recommender] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    tuning_seconds: float = 0.0

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model_seconds": self.seconds, "model_params": self.params}
        # What models chose for themselves on validation (epochs, content weights, ranker).
        notes = {n: dict(m.report) for n, m in self.models.items() if getattr(m, "report", None)}
        if notes:
            out["model_reports"] = notes
        if self.tuning:
            out["tuning"] = self.tuning
            out["tuning_seconds"] = round(self.tuning_seconds, 2)
        return out


def fit_order(names: Sequence[str]) -> list[str]:
    """The names without repeats, the hybrid last (it reuses the models fitted before it)."""
    unique = list(dict.fromkeys(names))
    return [n for n in unique if n != Hybrid.name] + [n for n in unique if n == Hybrid.name]


def fit_models(
    names: Sequence[str],
    data: Interactions,
    context: FitContext,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    tune_models: Collection[str] = (),
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    needs_users: Collection[str] = (),
) -> FitResult:
    """Fit every named model; tune those in ``tune_models`` that have a grid first.

    ``params`` are per-model constructor parameters (the settings); a tuned model's chosen
    parameters replace them for this fit and are reported.  Models in ``needs_users`` are
    skipped when there is no behaviour to learn from.
    """
    params = {k: dict(v) for k, v in (params or {}).items()}
    grids = {**DEFAULT_GRIDS, **{k: dict(v) for k, v in (grids or {}).items()}}
    unknown = sorted(set(tune_models) - set(grids))
    if unknown:
        raise ValueError(f"no tuning grid for {unknown}; models with grids: {sorted(grids)}")
    result = FitResult()
    held = None
    for name in fit_order(names):
        if name in needs_users and data.n_users == 0:
            result.skipped.append(name)
            continue
        chosen = dict(params.get(name, {}))
        if name in tune_models:
            began = time.perf_counter()
            held = held or hold_out_last(data)
            if len(held.user_rows):
                tuned = tune(name, data, context, grid=grids[name], base_params=chosen, held=held)
                chosen = tuned.best_params
                result.tuning[name] = tuned.as_dict()
            else:  # a young shop: fit with the settings' parameters rather than not at all
                log.info("tune %s: skipped, %s", name, NOTHING_TO_VALIDATE)
                result.tuning[name] = {"skipped": NOTHING_TO_VALIDATE}
            result.tuning_seconds += time.perf_counter() - began
        if name == Hybrid.name and "sources" not in chosen:
            chosen["sources"] = {
                source: result.params.get(source, params.get(source, {}))
                for source in DEFAULT_SOURCES
            }
        began = time.perf_counter()
        log.info("fitting %s %s", name, chosen or "")
        model = create(name, **chosen)
        context.options["fitted_models"] = result.models
        try:
            model.fit(data, context)
        finally:
            context.options.pop("fitted_models", None)
        result.models[name] = model
        result.params[name] = chosen
        result.seconds[name] = round(time.perf_counter() - began, 2)
    return result
