"""The storage protocol every backend implements.

The engine, ingestion and models talk to this protocol only, so a PostgreSQL backend can
replace the default SQLite file without touching them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from shoplm.schema import Event, Item


@dataclass(frozen=True)
class UpsertResult:
    """What an item upsert did: new rows, changed rows, and rows identical to what was stored."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class AppendResult:
    """What an event append did: new rows, and rows already stored under the same dedup key."""

    added: int = 0
    duplicates: int = 0


class SearchClick(NamedTuple):
    """An event that names both a query and an item: a click, cart or purchase from results."""

    query: str
    item_id: str
    type: str


@dataclass(frozen=True)
class EventColumns:
    """All events of one platform as parallel arrays, in time order (ties: arrival order).

    Column arrays are what the models train from; loading them in one query is far faster
    than building an Event object per row.
    """

    user_ids: np.ndarray  # object array of str
    item_ids: np.ndarray  # object array of str ('' for search events)
    types: np.ndarray  # object array of str
    values: np.ndarray  # float64, NaN when absent
    timestamps: np.ndarray  # float64
    session_ids: np.ndarray  # object array of str ('' when absent)
    queries: np.ndarray | None = None  # object array of str ('' when absent; None: not read)

    def __len__(self) -> int:
        return len(self.user_ids)

    def search_clicks(self) -> list[SearchClick]:
        """The click log: every event with both a query and an item, in time order."""
        queries = self._queries()
        found = np.flatnonzero((queries != "") & (self.item_ids != ""))
        return [SearchClick(queries[i], self.item_ids[i], self.types[i]) for i in found]

    def without_search(self) -> EventColumns:
        """The events that carry no query: behaviour outside the click log."""
        keep = self._queries() == ""
        return EventColumns(
            self.user_ids[keep], self.item_ids[keep], self.types[keep], self.values[keep],
            self.timestamps[keep], self.session_ids[keep], self._queries()[keep],
        )  # fmt: skip

    def _queries(self) -> np.ndarray:
        if self.queries is None:
            raise ValueError("these event columns were read without their queries")
        return self.queries


class Store(Protocol):
    """Items, events and platforms, with transactional batches."""

    def transaction(self) -> AbstractContextManager[None]:
        """Everything written inside is committed together or not at all."""
        ...

    def upsert_items(self, items: Iterable[Item]) -> UpsertResult: ...

    def delete_items(self, platform: str, item_ids: Iterable[str]) -> int: ...

    def append_events(self, events: Iterable[Event]) -> AppendResult: ...

    def get_item(self, platform: str, item_id: str) -> Item | None: ...

    def get_items(self, platform: str, item_ids: Iterable[str]) -> dict[str, Item]: ...

    def iter_items(self, platform: str | None = None) -> Iterator[Item]: ...

    def item_ids(self, platform: str) -> list[str]: ...

    def event_columns(self, platform: str) -> EventColumns: ...

    def user_events(self, platform: str, user_id: str, limit: int = 200) -> list[Event]: ...

    def platforms(self) -> list[str]: ...

    def count_items(self, platform: str | None = None) -> int: ...

    def count_events(self, platform: str | None = None) -> int: ...

    def close(self) -> None: ...
