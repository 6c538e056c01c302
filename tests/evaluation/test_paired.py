"""The paired difference against values worked out by hand."""

import math

import pytest

from shoplm.evaluation.paired import Z_95, describe, paired_difference


def test_hand_values() -> None:
    # Differences 0.5, 0, -0.25, 0.75: mean 0.25, sample variance
    # (0.0625 + 0.0625 + 0.25 + 0.25) / 3 = 0.208333, SE = sqrt(0.208333 / 4) = 0.228218.
    result = paired_difference([0.5, 0.0, 0.5, 0.25], [1.0, 0.0, 0.25, 1.0])
    assert result["n"] == 4 and result["difference"] == 0.25
    assert result["se"] == pytest.approx(0.228218, abs=1e-6)
    assert result["ci95_low"] == pytest.approx(0.25 - Z_95 * 0.228218, abs=1e-5)
    assert result["relative"] == pytest.approx(0.25 / 0.3125)
    assert (result["better"], result["worse"]) == (2, 1)
    assert describe(result) == "+0.2500 (paired SE 0.2282, 95% CI -0.1973 to +0.6973)"


def test_identical_models_differ_by_nothing() -> None:
    result = paired_difference([0.1, 0.3, 0.0], [0.1, 0.3, 0.0])
    assert result["difference"] == 0.0 and result["se"] == 0.0
    assert result["better"] == result["worse"] == 0


def test_a_zero_baseline_has_no_relative_gain() -> None:
    assert math.isnan(paired_difference([0.0, 0.0], [0.0, 1.0])["relative"])


@pytest.mark.parametrize(
    ("baseline", "candidate", "message"),
    [([0.1, 0.2], [0.1], "equal 1-D"), ([0.1], [0.2], "at least 2 rows")],
)
def test_bad_rows_are_a_clear_error(baseline: list, candidate: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        paired_difference(baseline, candidate)
