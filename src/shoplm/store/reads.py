"""The read queries SQLite and PostgreSQL answer with the same SQL.

The two backends differ in how they write (upserts, bulk copies, locks) but read the same
tables with the same statements; only the parameter placeholder differs (``?`` for sqlite3,
``%s`` for psycopg).  A store class mixes this in and names its placeholder in ``PARAM``.
"""

from __future__ import annotations

from typing import Any

from shoplm.schema import Event, Item
from shoplm.store.base import EventColumns
from shoplm.store.rows import (
    EVENT_COLUMN_FIELDS,
    EVENT_FIELDS,
    ITEM_COLUMNS,
    event_columns_from_rows,
    event_from_row,
    item_from_row,
)


class SharedReads:
    """Reads common to the SQL stores; ``_conn`` is the store's connection for this thread."""

    PARAM = "?"
    _conn: Any

    def _sql(self, statement: str) -> str:
        """``statement`` written with ``?`` placeholders, in this backend's placeholder."""
        return statement if self.PARAM == "?" else statement.replace("?", self.PARAM)

    def platforms(self) -> list[str]:
        rows = self._conn.execute("SELECT name FROM platforms ORDER BY name").fetchall()
        return [r[0] for r in rows]

    def get_item(self, platform: str, item_id: str) -> Item | None:
        row = self._conn.execute(
            self._sql(f"SELECT {ITEM_COLUMNS} FROM items WHERE platform=? AND item_id=?"),
            (platform, item_id),
        ).fetchone()
        return item_from_row(row) if row else None

    def count_items(self, platform: str | None = None) -> int:
        return self._count("items", platform)

    def count_events(self, platform: str | None = None) -> int:
        return self._count("events", platform)

    def _count(self, table: str, platform: str | None) -> int:
        if platform is None:
            row = self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        else:
            row = self._conn.execute(
                self._sql(f"SELECT COUNT(*) FROM {table} WHERE platform=?"), (platform,)
            ).fetchone()
        return int(row[0])

    def event_columns(self, platform: str) -> EventColumns:
        rows = self._conn.execute(
            self._sql(
                f"SELECT {EVENT_COLUMN_FIELDS} FROM events WHERE platform=? ORDER BY timestamp, seq"
            ),
            (platform,),
        ).fetchall()
        return event_columns_from_rows(rows)

    def user_events(self, platform: str, user_id: str, limit: int = 200) -> list[Event]:
        """The user's most recent events, oldest first."""
        rows = self._conn.execute(
            self._sql(
                f"SELECT {EVENT_FIELDS} FROM events WHERE platform=? AND user_id=? "
                "ORDER BY timestamp DESC, seq DESC LIMIT ?"
            ),
            (platform, user_id, limit),
        ).fetchall()
        return [event_from_row(r) for r in reversed(rows)]
