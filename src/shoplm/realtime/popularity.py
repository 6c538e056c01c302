"""Live popularity: per-item counters that decay, so what is hot this hour shows now.

The fitted popularity model only changes at the next fit; these counters move with every
event the server accepts.  They are kept in memory (the events themselves are in the
store, and the next fit learns from them).
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable

from shoplm.schema import EVENT_WEIGHTS, EventType


class DecayedCounters:
    """``score(item) = sum over events of weight * 0.5 ** (age / half_life)``."""

    def __init__(self, half_life_s: float, clock: Callable[[], float] = time.time) -> None:
        if half_life_s <= 0:
            raise ValueError(f"half_life_s must be > 0, got {half_life_s}")
        self.half_life_s = half_life_s
        self._clock = clock
        self._values: dict[tuple[str, str], tuple[float, float]] = {}  # key -> (value, at)
        self._lock = threading.Lock()

    def _decayed(self, value: float, at: float, now: float) -> float:
        return value * math.pow(0.5, max(0.0, now - at) / self.half_life_s)

    def add(self, platform: str, item_id: str, event_type: EventType | str) -> None:
        weight = EVENT_WEIGHTS.get(EventType(event_type), 0.0)
        if weight <= 0:
            return
        now = self._clock()
        key = (platform, item_id)
        with self._lock:
            value, at = self._values.get(key, (0.0, now))
            self._values[key] = (self._decayed(value, at, now) + weight, now)

    def score(self, platform: str, item_id: str) -> float:
        value, at = self._values.get((platform, item_id), (0.0, 0.0))
        return self._decayed(value, at, self._clock()) if value else 0.0

    def top(self, platform: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` hottest items of a platform, hottest first."""
        now = self._clock()
        with self._lock:
            rows = [
                (item_id, self._decayed(value, at, now))
                for (p, item_id), (value, at) in self._values.items()
                if p == platform
            ]
        return heapq.nlargest(n, rows, key=lambda row: (row[1], row[0]))

    def __len__(self) -> int:
        return len(self._values)
