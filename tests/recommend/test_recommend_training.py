"""Fitting a set of models: settings, tuning, skipping, and the hybrid reusing its sources."""

from __future__ import annotations

import pytest

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext
from shoplm.recommend.training import fit_models, fit_order


def test_fit_order_puts_the_hybrid_last() -> None:
    assert fit_order(["hybrid", "als", "content", "als"]) == ["als", "content", "hybrid"]


def test_settings_tuning_and_report(two_groups: Interactions, context: FitContext) -> None:
    result = fit_models(
        ["popularity", "itemknn"],
        two_groups,
        context,
        params={"itemknn": {"shrink": 0.0}},
        tune_models=["itemknn"],
        grids={"itemknn": {"neighbours": [1, 10]}},
    )
    assert sorted(result.models) == ["itemknn", "popularity"]
    assert result.params["itemknn"] == {"shrink": 0.0, "neighbours": 10}
    assert result.models["itemknn"].params["neighbours"] == 10
    report = result.report()
    assert set(report["model_seconds"]) == {"itemknn", "popularity"}
    assert [t["params"] for t in report["tuning"]["itemknn"]["trials"]] == [
        {"neighbours": 1},
        {"neighbours": 10},
    ]
    assert report["tuning_seconds"] >= 0.0
    assert "fitted_models" not in context.options


def test_models_that_need_users_are_skipped_without_them(context: FitContext) -> None:
    import numpy as np
    import scipy.sparse as sp

    nobody = Interactions(
        item_ids=["a", "b"],
        user_ids=[],
        matrix=sp.csr_matrix((0, 2), dtype=np.float32),
        histories=[],
        last_timestamps=np.full(2, np.nan),
    )
    result = fit_models(["popularity", "als"], nobody, context, needs_users={"als"})
    assert result.skipped == ["als"] and list(result.models) == ["popularity"]


def test_hybrid_reuses_the_models_fitted_before_it(
    two_groups: Interactions, context: FitContext
) -> None:
    result = fit_models(
        ["hybrid", "itemknn"],
        two_groups,
        context,
        params={
            "itemknn": {"neighbours": 10},
            "hybrid": {
                "sources": {"itemknn": {"neighbours": 10}},
                "per_source": 3,
                "epochs": 2,
                "threads": 1,
            },
        },
    )
    assert list(result.models) == ["itemknn", "hybrid"]
    assert result.models["hybrid"].models["itemknn"] is result.models["itemknn"]


def test_hybrid_sources_follow_the_chosen_parameters(
    two_groups: Interactions, context: FitContext
) -> None:
    result = fit_models(
        ["itemknn", "hybrid"],
        two_groups,
        context,
        params={"hybrid": {"per_source": 3, "epochs": 2, "threads": 1}},
        tune_models=["itemknn"],
        grids={"itemknn": {"neighbours": [1, 10]}},
    )
    sources = result.params["hybrid"]["sources"]
    assert sources["itemknn"] == {"neighbours": 10}
    assert result.models["hybrid"].models["itemknn"] is result.models["itemknn"]


def test_unknown_grid_is_an_error(two_groups: Interactions, context: FitContext) -> None:
    with pytest.raises(ValueError, match=r"no tuning grid for \['sasrec'\]"):
        fit_models(["sasrec"], two_groups, context, tune_models=["sasrec"])


def test_a_shop_too_young_to_validate_fits_untuned(
    interactions_from_histories, context: FitContext
) -> None:
    import numpy as np

    # no user has three items, so no newest item can be held out to choose on
    young = interactions_from_histories([np.array([0, 1]), np.array([2])], 12)
    result = fit_models(["itemknn", "popularity"], young, context, tune_models=["itemknn"])
    assert sorted(result.models) == ["itemknn", "popularity"]
    assert result.tuning["itemknn"] == {
        "skipped": "no user has three or more items: nothing to validate on"
    }
    assert result.params["itemknn"] == {}  # the settings' parameters, not a grid's
