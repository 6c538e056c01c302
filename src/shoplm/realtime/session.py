"""Session intent: what the shopper is after right now, from their last few events.

Long-term taste (the fitted models and the whole history) changes slowly; a shopper who
switched from phones to coffee five clicks ago wants coffee now.  The intent vector is the
mean of the text vectors of the items in the current session, weighted by event type
(a purchase says more than a view), by dwell time (a view's ``value``, in seconds) and by
recency within the session.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from shoplm.schema import EVENT_WEIGHTS, Event, EventType

DWELL_TYPES = {EventType.VIEW, EventType.CLICK}


@dataclass
class SessionIntent:
    """The current session's direction and how sure we are of it."""

    vector: np.ndarray  # float32 [dim], unit length
    strength: float  # 0..1: 1 once the session holds a few strong signals
    rows: list[int]  # session item rows, newest first
    weights: list[float]  # their weights, same order


def current_session(events: Sequence[Event], gap_s: float, now: float | None = None) -> list[Event]:
    """The trailing run of events (oldest first) with no pause longer than ``gap_s``.

    Empty when the newest event is itself older than ``gap_s``: that session is over.
    """
    if not events:
        return []
    now = time.time() if now is None else now
    if now - events[-1].timestamp > gap_s:
        return []
    start = len(events) - 1
    while start > 0 and events[start].timestamp - events[start - 1].timestamp <= gap_s:
        start -= 1
    return list(events[start:])


def event_weight(event: Event, dwell_reference_s: float) -> float:
    """How much one event tells about intent: type weight, scaled up by dwell time."""
    weight = EVENT_WEIGHTS.get(event.type, 0.0)
    if weight > 0 and event.type in DWELL_TYPES and event.value is not None and event.value > 0:
        weight *= 1.0 + math.log1p(event.value / dwell_reference_s) / math.log(2)
    return weight


def session_intent(
    events: Sequence[Event],
    item_index: Mapping[str, int],
    embeddings: np.ndarray,
    gap_s: float,
    dwell_reference_s: float,
    max_events: int = 30,
    now: float | None = None,
) -> SessionIntent | None:
    """The intent of the user's live session, or None when there is no live session."""
    session = current_session(events, gap_s, now)[-max_events:]
    rows: list[int] = []
    weights: list[float] = []
    for age, event in enumerate(reversed(session)):
        row = item_index.get(event.item_id or "")
        weight = event_weight(event, dwell_reference_s)
        if row is None or weight <= 0:
            continue
        rows.append(row)
        weights.append(weight * math.pow(0.5, age / 5.0))  # the newest counts most
    if not rows:
        return None
    vector = np.asarray(weights, dtype=np.float32) @ embeddings[np.array(rows)]
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        return None
    return SessionIntent(
        vector=(vector / norm).astype(np.float32),
        strength=min(1.0, sum(weights) / 3.0),
        rows=rows,
        weights=weights,
    )
