"""Tuning on the held-out newest item: the grid, the choice, the report."""

from __future__ import annotations

import numpy as np
import pytest

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext
from shoplm.recommend.tuning import DEFAULT_GRIDS, grid_settings, tune


def test_grid_settings_in_fixed_order() -> None:
    assert grid_settings({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    with pytest.raises(ValueError, match="grid value for 'a'"):
        grid_settings({"a": []})
    with pytest.raises(ValueError, match="grid value for 'b'"):
        grid_settings({"b": "xy"})


def test_default_grids_build_their_models() -> None:
    from shoplm.recommend.registry import create

    for name, grid in DEFAULT_GRIDS.items():
        for setting in grid_settings(grid):
            assert create(name, **setting).params.items() >= setting.items()


def test_tune_picks_the_best_setting_on_validation(
    two_groups: Interactions, context: FitContext
) -> None:
    # Ten neighbours see the whole group; one neighbour misses most of it.
    result = tune("itemknn", two_groups, context, grid={"neighbours": [1, 10]})
    assert [t["params"] for t in result.trials] == [{"neighbours": 1}, {"neighbours": 10}]
    scores = [t["valid_ndcg@10"] for t in result.trials]
    assert result.best_score == pytest.approx(max(scores), abs=1e-6)
    assert result.best_params == result.trials[int(np.argmax(scores))]["params"]
    assert scores[1] > scores[0]
    report = result.as_dict()
    assert report["best_params"] == {"neighbours": 10} and len(report["trials"]) == 2


def test_base_params_are_kept(two_groups: Interactions, context: FitContext) -> None:
    result = tune(
        "itemknn", two_groups, context, grid={"shrink": [0.0]}, base_params={"neighbours": 3}
    )
    assert result.best_params == {"neighbours": 3, "shrink": 0.0}


def test_time_budget_stops_the_search(two_groups: Interactions, context: FitContext) -> None:
    result = tune("itemknn", two_groups, context, grid={"neighbours": [1, 2, 3]}, time_budget_s=0.0)
    assert len(result.trials) == 1  # the first setting always runs


def test_errors_are_named(two_groups: Interactions, context: FitContext) -> None:
    with pytest.raises(ValueError, match="no tuning grid for 'sasrec'"):
        tune("sasrec", two_groups, context)
    empty = Interactions(
        item_ids=two_groups.item_ids,
        user_ids=two_groups.user_ids[:1],
        matrix=two_groups.matrix[:1],
        histories=[two_groups.histories[0][:2]],
        last_timestamps=two_groups.last_timestamps,
    )
    with pytest.raises(ValueError, match="nothing to validate on"):
        tune("itemknn", empty, context)
