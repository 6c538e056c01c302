"""The seeded train / validation / test split every head is scored on.

Stratified by class (each share holds every class in its proportion) or by group (rows of
one query or user never straddle two shares).  ``evaluate heads`` and a home's
``shoplm heads train`` both cut their rows this way, so the same rows with the same seed give
the same shares.  ``cap_rows`` then draws at most so many rows of a share, seeded (as even
across classes as they go, when asked): the evaluations' caps and ``heads train --max-rows``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

FRACTIONS = (0.7, 0.1, 0.2)


def split_rows(
    n: int,
    seed: int,
    fractions: Sequence[float] = FRACTIONS,
    strata: Sequence[Any] | None = None,
    groups: Sequence[str] | None = None,
) -> dict[str, list[int]]:
    """Seeded train/valid/test row lists: whole groups, or per stratum, cut by fractions."""
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"fractions must be three shares summing to 1, got {list(fractions)}")
    rng = random.Random(seed)
    out: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
    if groups is not None:
        units = sorted(set(groups))
        rng.shuffle(units)
        part = dict(zip(units, _cut(len(units), fractions), strict=True))
        for row, group in enumerate(groups):
            out[part[group]].append(row)
        return out
    keys = strata if strata is not None else [0] * n
    by_key: dict[Any, list[int]] = {}
    for row, key in enumerate(keys):
        by_key.setdefault(key, []).append(row)
    for key in sorted(by_key, key=str):
        rows = by_key[key]
        rng.shuffle(rows)
        for row, name in zip(rows, _cut(len(rows), fractions), strict=True):
            out[name].append(row)
    return {name: sorted(rows) for name, rows in out.items()}


def _cut(n: int, fractions: Sequence[float]) -> list[str]:
    n_train = round(n * fractions[0])
    n_valid = min(n - n_train, round(n * fractions[1]))
    return ["train"] * n_train + ["valid"] * n_valid + ["test"] * (n - n_train - n_valid)


def cap_rows(
    rows: Sequence[int],
    limit: int | None,
    seed: int,
    labels: Sequence[Any] | None = None,
) -> list[int]:
    """At most ``limit`` rows, seeded; with ``labels``, as even across classes as possible."""
    rows = sorted(rows)
    if limit is None or limit >= len(rows):
        return rows
    rng = random.Random(seed)
    if labels is None:
        return sorted(rng.sample(rows, limit))
    by_label: dict[Any, list[int]] = {}
    for row in rows:
        by_label.setdefault(labels[row], []).append(row)
    quota = _water_fill({k: len(v) for k, v in by_label.items()}, limit)
    picked: list[int] = []
    for key in sorted(by_label, key=str):
        picked.extend(rng.sample(by_label[key], quota[key]))
    return sorted(picked)


def _water_fill(sizes: dict[Any, int], total: int) -> dict[Any, int]:
    """Equal shares of ``total``; what small classes cannot use goes to the larger ones."""
    quota = dict.fromkeys(sizes, 0)
    left = total
    open_keys = sorted(sizes, key=lambda k: sizes[k])
    while left > 0 and open_keys:
        share = max(1, left // len(open_keys))
        for key in list(open_keys):
            take = min(share, sizes[key] - quota[key], left)
            quota[key] += take
            left -= take
            if quota[key] >= sizes[key]:
                open_keys.remove(key)
            if left == 0:
                break
    return quota
