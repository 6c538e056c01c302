"""Exploration: Thompson sampling over new and uncertain items.

Models trained on past behaviour never show an item nobody touched, so nobody ever touches
it.  A few reserved places per list go to such items, chosen by Thompson sampling: each item
keeps a Beta(successes, failures) belief of being clicked when shown; a draw from each
belief ranks them, so items that earn clicks are shown more and items that never do fade,
while barely-shown items still get chances.  The beliefs are saved as JSON in the home.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from shoplm.folders import write_text_whole
from shoplm.schema import EventType

REWARD_TYPES = {EventType.CLICK, EventType.ADD_TO_CART, EventType.PURCHASE}
MAX_PENDING = 100_000  # shown (user, item) pairs awaiting a click, oldest dropped first
FORMAT = 1


class ThompsonBandit:
    """Beta-Bernoulli beliefs per (platform, item), learning from shows and clicks."""

    def __init__(
        self,
        path: Path | None = None,
        prior: tuple[float, float] = (1.0, 10.0),
        reward_window_s: float = 3600.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if prior[0] <= 0 or prior[1] <= 0:
            raise ValueError(f"the Beta prior needs two positive numbers, got {prior}")
        self.path = path
        self.prior = prior
        self.reward_window_s = reward_window_s
        self._rng = np.random.default_rng(seed)
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], list[int]] = {}  # -> [shows, rewards]
        self._pending: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._dirty = False
        self._saved_at = 0.0
        if path is not None and path.exists():
            self._load(path)

    # -- choosing ----------------------------------------------------------------------
    def choose(self, platform: str, arms: Sequence[str], n: int) -> list[tuple[str, float]]:
        """Up to ``n`` arms with the highest draws from their beliefs, best first."""
        if n <= 0 or not arms:
            return []
        with self._lock:
            counts = np.array(
                [self._counts.get((platform, arm), (0, 0)) for arm in arms], dtype=np.float64
            )
            alpha = self.prior[0] + counts[:, 1]
            beta = self.prior[1] + np.maximum(counts[:, 0] - counts[:, 1], 0)
            draws = self._rng.beta(alpha, beta)
        best = np.argsort(-draws, kind="stable")[:n]
        return [(arms[i], float(draws[i])) for i in best]

    def shown(self, platform: str, user_id: str, item_ids: Sequence[str]) -> None:
        """Count a show of each item, and remember it so a later click can pay it."""
        if not item_ids:
            return
        now = self._clock()
        with self._lock:
            for item_id in item_ids:
                self._counts.setdefault((platform, item_id), [0, 0])[0] += 1
                key = (platform, user_id, item_id)
                self._pending.pop(key, None)
                self._pending[key] = now
            while len(self._pending) > MAX_PENDING:
                self._pending.popitem(last=False)
            self._dirty = True

    def observe(self, platform: str, user_id: str, item_id: str, event_type: str) -> bool:
        """A click/cart/purchase on an item shown to this user recently is a success."""
        if EventType(event_type) not in REWARD_TYPES:
            return False
        with self._lock:
            shown_at = self._pending.pop((platform, user_id, item_id), None)
            if shown_at is None or self._clock() - shown_at > self.reward_window_s:
                return False
            self._counts.setdefault((platform, item_id), [0, 0])[1] += 1
            self._dirty = True
            return True

    def belief(self, platform: str, item_id: str) -> dict[str, float]:
        shows, rewards = self._counts.get((platform, item_id), (0, 0))
        alpha = self.prior[0] + rewards
        beta = self.prior[1] + max(shows - rewards, 0)
        return {"shows": shows, "rewards": rewards, "mean": alpha / (alpha + beta)}

    def __len__(self) -> int:
        return len(self._counts)

    # -- persistence ---------------------------------------------------------------------
    def save(self, min_interval_s: float = 0.0) -> bool:
        """Write the beliefs (atomically) if they changed and the last save is old enough."""
        if self.path is None:
            return False
        with self._lock:
            if not self._dirty or self._clock() - self._saved_at < min_interval_s:
                return False
            payload: dict[str, dict[str, list[int]]] = {}
            for (platform, item_id), counts in self._counts.items():
                payload.setdefault(platform, {})[item_id] = list(counts)
            self._dirty = False
            self._saved_at = self._clock()
        write_text_whole(self.path, json.dumps({"format": FORMAT, "arms": payload}))
        return True

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
            arms = data["arms"]
            for platform, items in arms.items():
                for item_id, (shows, rewards) in items.items():
                    self._counts[(platform, item_id)] = [int(shows), int(rewards)]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path} is not a valid bandit state file: {error}") from None
