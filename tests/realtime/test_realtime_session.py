"""Session intent: the trailing burst of events, weighted by type, dwell and recency."""

from __future__ import annotations

import numpy as np
import pytest

from shoplm.realtime.session import current_session, event_weight, session_intent
from shoplm.schema import Event

NOW = 1_800_000_000.0


def event(item: str, seconds_ago: float, kind: str = "view", value: float | None = None) -> Event:
    return Event(user_id="u", item_id=item, type=kind, value=value, timestamp=NOW - seconds_ago)


def test_current_session_is_the_trailing_burst():
    events = [event("a", 10_000), event("b", 500), event("c", 100), event("d", 10)]
    assert [e.item_id for e in current_session(events, gap_s=1800, now=NOW)] == ["b", "c", "d"]
    assert current_session(events, gap_s=5, now=NOW) == []  # the last event is already old
    assert current_session([], gap_s=1800, now=NOW) == []


def test_dwell_and_type_weigh_events():
    quick = event_weight(event("a", 0, "view", 2), dwell_reference_s=30)
    long = event_weight(event("a", 0, "view", 30), dwell_reference_s=30)
    assert long == pytest.approx(2.0) and 1.0 < quick < long
    assert event_weight(event("a", 0, "purchase"), 30) == 3.0
    assert event_weight(Event(user_id="u", type="search", query="x", timestamp=NOW), 30) == 0


def test_intent_points_to_the_recent_items():
    embeddings = np.eye(3, dtype=np.float32)
    index = {"a": 0, "b": 1, "c": 2}
    events = [event("a", 600, "view"), event("b", 60, "click", 90), event("zzz", 5)]
    intent = session_intent(events, index, embeddings, gap_s=1800, dwell_reference_s=30, now=NOW)
    assert intent is not None
    assert intent.rows == [1, 0]  # newest first, the unknown item skipped
    assert intent.vector[1] > intent.vector[0] > 0 and intent.vector[2] == 0
    assert np.linalg.norm(intent.vector) == pytest.approx(1.0)
    assert 0 < intent.strength <= 1
    stale = session_intent(events, index, embeddings, gap_s=1, dwell_reference_s=30, now=NOW)
    assert stale is None
