"""Train/test splits of users' interaction sequences.

Two protocols, both common in the literature and both named in every result so numbers
are never compared across them:

- leave-one-out: each user's last item is the test target, the one before it the
  validation target (RecBole, SASRec and most sequential papers);
- temporal: one global time cutoff, so no model ever trains on an event that happened
  after an event it is tested on (closer to how a shop deploys a model).

Sequences are item ids in time order, oldest first; the caller sorts them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class LeaveOneOut:
    """Leave-one-out split: fit on ``train_for_*`` and score the matching ``*_targets``.

    For validation the model sees ``seq[:-2]`` and must find ``seq[-2]``; for testing it
    sees ``seq[:-1]`` (training plus the validation item) and must find ``seq[-1]``.
    Users shorter than the minimum length keep all their items in both training maps and
    have no target.
    """

    train_for_valid: dict[str, list[str]]
    valid_targets: dict[str, str]
    train_for_test: dict[str, list[str]]
    test_targets: dict[str, str]


@dataclass
class TemporalSplit:
    """Global-cutoff split: events strictly before ``cutoff`` train, the rest test.

    ``cutoff`` is the ``quantile`` (= 1 - test_fraction) time quantile of all events.
    ``test_targets`` maps each user who has training events to the items they interacted
    with at or after the cutoff and never before it; users with no such item are absent.
    """

    train_sequences: dict[str, list[str]]
    train_timestamps: dict[str, list[float]]
    test_targets: dict[str, set[str]]
    cutoff: float
    quantile: float


def leave_one_out(sequences: Mapping[str, Sequence[str]], min_length: int = 3) -> LeaveOneOut:
    """Hold out each user's last item for test and second-to-last for validation.

    ``min_length`` (at least 3, so the validation user keeps one training item) is the
    shortest sequence that gets targets; shorter users only add training data.
    """
    if min_length < 3:
        raise ValueError(f"min_length must be at least 3, got {min_length}")
    split = LeaveOneOut({}, {}, {}, {})
    for user, seq in sequences.items():
        if isinstance(seq, str):
            raise ValueError(f"user {user!r}: sequence must be a list of item ids, got a string")
        items = list(seq)
        if len(items) < min_length:
            split.train_for_valid[user] = items
            split.train_for_test[user] = list(items)
            continue
        split.train_for_valid[user] = items[:-2]
        split.valid_targets[user] = items[-2]
        split.train_for_test[user] = items[:-1]
        split.test_targets[user] = items[-1]
    return split


def temporal_split(
    sequences: Mapping[str, Sequence[str]],
    timestamps: Mapping[str, Sequence[float]],
    test_fraction: float = 0.2,
) -> TemporalSplit:
    """Split every user's events at one global time cutoff.

    The cutoff is the (1 - test_fraction) quantile (linear interpolation) of all
    timestamps.  Training keeps events strictly before it, sorted by time within each user;
    users with no event before it are absent (cold users).  A user's test targets are the
    items seen at or after the cutoff that are not in their training events: predicting an
    item the user already has would reward memory, not recommendation.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    missing = [u for u in sequences if u not in timestamps]
    if missing:
        raise ValueError(f"user {missing[0]!r} has items but no timestamps")
    extra = [u for u in timestamps if u not in sequences]
    if extra:
        raise ValueError(f"user {extra[0]!r} has timestamps but no items")

    times: dict[str, np.ndarray] = {}
    for user, seq in sequences.items():
        if isinstance(seq, str):
            raise ValueError(f"user {user!r}: sequence must be a list of item ids, got a string")
        try:
            t = np.asarray(timestamps[user], dtype=np.float64).ravel()
        except (TypeError, ValueError) as err:
            raise ValueError(f"user {user!r}: timestamps must be numbers ({err})") from None
        if len(t) != len(seq):
            raise ValueError(f"user {user!r}: {len(seq)} items but {len(t)} timestamps")
        if not np.isfinite(t).all():
            raise ValueError(f"user {user!r}: timestamp {t[~np.isfinite(t)][0]} is not finite")
        times[user] = t
    if not times or not any(len(t) for t in times.values()):
        raise ValueError("no events to split")

    quantile = 1.0 - test_fraction
    cutoff = float(np.quantile(np.concatenate(list(times.values())), quantile))
    split = TemporalSplit({}, {}, {}, cutoff, quantile)
    for user, seq in sequences.items():
        t = times[user]
        order = np.argsort(t, kind="stable")
        before = [int(i) for i in order if t[i] < cutoff]
        if not before:
            continue
        split.train_sequences[user] = [seq[i] for i in before]
        split.train_timestamps[user] = [float(t[i]) for i in before]
        seen = set(split.train_sequences[user])
        after = {seq[i] for i in range(len(seq)) if t[i] >= cutoff} - seen
        if after:
            split.test_targets[user] = after
    if not split.train_sequences:
        raise ValueError(f"no event falls before the cutoff {cutoff}: too few distinct times")
    return split
