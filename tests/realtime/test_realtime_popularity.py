"""Live popularity counters decay with time and rank the hot items first."""

from __future__ import annotations

import pytest

from shoplm.realtime.popularity import DecayedCounters


def test_counters_decay_and_rank():
    clock = [0.0]
    counters = DecayedCounters(half_life_s=100, clock=lambda: clock[0])
    counters.add("shop", "old", "purchase")  # weight 3
    clock[0] = 100.0
    counters.add("shop", "new", "click")  # weight 1
    counters.add("shop", "new", "click")
    counters.add("other", "x", "purchase")
    counters.add("shop", "q", "search")  # says nothing about an item's popularity
    assert counters.score("shop", "old") == pytest.approx(1.5)
    assert counters.top("shop", 5) == [("new", pytest.approx(2.0)), ("old", pytest.approx(1.5))]
    clock[0] = 200.0
    assert counters.score("shop", "new") == pytest.approx(1.0)
    assert counters.score("shop", "never") == 0.0
    with pytest.raises(ValueError, match="half_life"):
        DecayedCounters(0)
