"""Behaviour as the models see it: integer ids, a user-item matrix and ordered histories.

Built once per fit from the store's event columns; every recommender trains from the same
object, so their item indices agree and the hybrid can add their scores column by column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from shoplm.schema import EVENT_WEIGHTS, EventType
from shoplm.store.base import EventColumns


@dataclass
class Interactions:
    """Users x items implicit feedback plus each user's ordered item history."""

    item_ids: list[str]
    user_ids: list[str]
    matrix: sp.csr_matrix  # float32 [n_users, n_items]: summed event weights
    histories: list[np.ndarray]  # per user row: item rows, oldest first
    last_timestamps: np.ndarray  # per item row: time of its latest event (NaN if none)
    item_index: dict[str, int] = field(init=False, repr=False)
    user_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.item_index = {item_id: row for row, item_id in enumerate(self.item_ids)}
        self.user_index = {user_id: row for row, user_id in enumerate(self.user_ids)}

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @classmethod
    def from_events(
        cls,
        events: EventColumns,
        item_ids: Sequence[str],
        weights: dict[EventType, float] | None = None,
    ) -> Interactions:
        """Keep events on catalog items with a positive weight; drop the rest.

        ``events`` must be in time order (the store returns them so).
        """
        weights = weights or EVENT_WEIGHTS
        item_index = {item_id: row for row, item_id in enumerate(item_ids)}
        # One lookup per distinct type, not one EventType() per event: fits read millions.
        by_name = {EventType(t).value: float(w) for t, w in weights.items()}
        names, type_codes = np.unique(np.asarray(events.types, dtype=str), return_inverse=True)
        type_weight = np.array([by_name.get(n, 0.0) for n in names], dtype=np.float32)[
            type_codes.reshape(-1)
        ]
        item_rows = np.array([item_index.get(i, -1) for i in events.item_ids], dtype=np.int64)
        keep = (item_rows >= 0) & (type_weight > 0)
        users = events.user_ids[keep]
        item_rows = item_rows[keep]
        type_weight = type_weight[keep]
        stamps = events.timestamps[keep]

        user_ids, user_rows = np.unique(users.astype(str), return_inverse=True)
        matrix = sp.csr_matrix(
            (type_weight, (user_rows, item_rows)),
            shape=(len(user_ids), len(item_ids)),
            dtype=np.float32,
        )
        matrix.sum_duplicates()

        # Stable sort by user keeps each user's events in time order.
        order = np.argsort(user_rows, kind="stable")
        sorted_users = user_rows[order]
        bounds = np.searchsorted(sorted_users, np.arange(len(user_ids) + 1))
        sorted_items = item_rows[order]
        histories = [sorted_items[bounds[u] : bounds[u + 1]] for u in range(len(user_ids))]

        last = np.full(len(item_ids), np.nan)
        if len(item_rows):
            np.fmax.at(last, item_rows, stamps)
        return cls(
            item_ids=list(item_ids),
            user_ids=[str(u) for u in user_ids],
            matrix=matrix,
            histories=histories,
            last_timestamps=last,
        )

    def history_rows(self, item_ids: Sequence[str]) -> np.ndarray:
        """Item ids -> item rows, silently dropping ids not in the catalog."""
        rows = [self.item_index[i] for i in item_ids if i in self.item_index]
        return np.asarray(rows, dtype=np.int64)

    def item_popularity(self) -> np.ndarray:
        """Number of distinct users per item."""
        return np.asarray((self.matrix > 0).sum(axis=0)).ravel().astype(np.float32)
