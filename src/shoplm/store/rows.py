"""Rows of the SQL backends: items and events turned into rows, and rows turned back.

SQLite and PostgreSQL keep the same columns, so one definition of the column lists and of
the object <-> row conversions serves both.  Rows were validated on the way in: rebuilding
without validation (``model_construct``) keeps reads (a dozen items per recommendation) cheap.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from shoplm.schema import Event, EventType, Item
from shoplm.store.base import EventColumns

ITEM_COLUMNS = (
    "platform, item_id, title, description, brand, category, price, attributes, "
    "created_at, updated_at"
)
# What ``append_events`` inserts, in the order ``event_row`` builds.
EVENT_INSERT_FIELDS = (
    "event_key, platform, user_id, item_id, type, value, query, session_id, timestamp"
)
# What ``event_columns`` selects, in the order ``event_columns_from_rows`` reads.
EVENT_COLUMN_FIELDS = (
    "user_id, COALESCE(item_id, ''), type, value, timestamp, COALESCE(session_id, ''), "
    "COALESCE(query, '')"
)
# What ``user_events`` selects, in the order ``event_from_row`` reads.
EVENT_FIELDS = "user_id, item_id, platform, type, value, query, session_id, timestamp"


def item_row(item: Item, created_at: float, updated_at: float, content_hash: str) -> tuple:
    """The row an upsert writes: ``ITEM_COLUMNS`` then ``content_hash``."""
    return (
        item.platform,
        item.item_id,
        item.title,
        item.description,
        item.brand,
        item.category,
        item.price,
        json.dumps(item.attributes, sort_keys=True),
        created_at,
        updated_at,
        content_hash,
    )


def event_row(event: Event) -> tuple:
    """The row an append writes, in ``EVENT_INSERT_FIELDS`` order."""
    return (
        event.dedup_key(),
        event.platform,
        event.user_id,
        event.item_id,
        event.type.value,
        event.value,
        event.query,
        event.session_id,
        event.timestamp,
    )


def item_from_row(row: Sequence) -> Item:
    """An Item from a row selected with ``ITEM_COLUMNS`` (attributes stored as JSON text)."""
    return Item.model_construct(
        platform=row[0],
        item_id=row[1],
        title=row[2],
        description=row[3],
        brand=row[4],
        category=row[5],
        price=row[6],
        attributes=json.loads(row[7]),
        created_at=row[8],
        updated_at=row[9],
    )


def event_from_row(row: Sequence) -> Event:
    """An Event from a row selected with ``EVENT_FIELDS``."""
    return Event.model_construct(
        user_id=row[0],
        item_id=row[1],
        platform=row[2],
        type=EventType(row[3]),
        value=row[4],
        query=row[5],
        session_id=row[6],
        timestamp=row[7],
    )


def event_columns_from_rows(rows: Sequence[Sequence]) -> EventColumns:
    """Parallel arrays from rows selected with ``EVENT_COLUMN_FIELDS``."""
    if not rows:
        empty = np.array([], dtype=object)
        return EventColumns(empty, empty, empty, np.array([]), np.array([]), empty, empty)
    users, items, types, values, stamps, sessions, queries = zip(*rows, strict=True)
    return EventColumns(
        user_ids=np.array(users, dtype=object),
        item_ids=np.array(items, dtype=object),
        types=np.array(types, dtype=object),
        values=np.array([np.nan if v is None else v for v in values], dtype=np.float64),
        timestamps=np.array(stamps, dtype=np.float64),
        session_ids=np.array(sessions, dtype=object),
        queries=np.array(queries, dtype=object),
    )
