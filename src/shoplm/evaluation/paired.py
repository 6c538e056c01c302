"""Paired comparison of two models scored on the same users (or queries).

Two encoders scored on the same users differ user by user; the spread of those differences,
not of each model's own scores, says whether a gain of a few thousandths is real. Models that
agree on most users have a much smaller error on their difference than on either figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z_95 = 1.959964  # two-sided 95% quantile of the standard normal
PAIRED_METRIC = "NDCG@10"  # what the fine-tuning evaluations compare user by user


def paired_difference(baseline: Sequence[float], candidate: Sequence[float]) -> dict[str, float]:
    """Mean of ``candidate - baseline`` over paired rows, its standard error and 95% interval.

    The interval is the normal approximation (mean +- 1.96 SE), fine for thousands of rows.
    ``relative`` is the mean difference over the baseline's mean; ``better`` and ``worse``
    count rows where the candidate scored above or below the baseline.
    """
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired rows must be two equal 1-D lists, got {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError(f"a paired comparison needs at least 2 rows, got {len(a)}")
    diff = b - a
    mean = float(diff.mean())
    se = float(diff.std(ddof=1) / math.sqrt(len(diff)))
    base = float(a.mean())
    return {
        "n": len(diff),
        "baseline": round(base, 6),
        "candidate": round(float(b.mean()), 6),
        "difference": round(mean, 6),
        "relative": round(mean / base, 6) if base else math.nan,
        "se": round(se, 6),
        "ci95_low": round(mean - Z_95 * se, 6),
        "ci95_high": round(mean + Z_95 * se, 6),
        "better": int((diff > 0).sum()),
        "worse": int((diff < 0).sum()),
    }


def describe(gain: dict[str, float]) -> str:
    """One line for a person: ``+0.0015 (paired SE 0.0013, 95% CI -0.0009 to +0.0040)``."""
    return (
        f"{gain['difference']:+.4f} (paired SE {gain['se']:.4f}, "
        f"95% CI {gain['ci95_low']:+.4f} to {gain['ci95_high']:+.4f})"
    )
