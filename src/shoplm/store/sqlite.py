"""The default store: one SQLite file in the engine home, no server needed.

WAL mode lets readers (search, recommend) run while a writer ingests.  The schema carries
a version number and upgrades itself through the ordered MIGRATIONS list, so a home made
by an older shoplm keeps working.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from shoplm.schema import Event, Item
from shoplm.store.base import AppendResult, UpsertResult
from shoplm.store.reads import SharedReads
from shoplm.store.rows import (
    EVENT_INSERT_FIELDS,
    ITEM_COLUMNS,
    event_row,
    item_from_row,
    item_row,
)

# Each entry upgrades the schema by one version.  Never edit a released entry: append.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE platforms (
        name TEXT PRIMARY KEY,
        created_at REAL NOT NULL
    );
    CREATE TABLE items (
        platform TEXT NOT NULL,
        item_id TEXT NOT NULL,
        title TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        brand TEXT NOT NULL DEFAULT '',
        category TEXT NOT NULL DEFAULT '',
        price REAL,
        attributes TEXT NOT NULL DEFAULT '{}',
        created_at REAL,
        updated_at REAL,
        content_hash TEXT NOT NULL,
        PRIMARY KEY (platform, item_id)
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_key TEXT NOT NULL UNIQUE,
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL,
        item_id TEXT,
        type TEXT NOT NULL,
        value REAL,
        query TEXT,
        session_id TEXT,
        timestamp REAL NOT NULL
    );
    CREATE INDEX events_user ON events (platform, user_id, timestamp);
    CREATE INDEX events_item ON events (platform, item_id);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNewError(RuntimeError):
    """The home was written by a newer shoplm; refuse rather than corrupt it."""


class SQLiteStore(SharedReads):
    """Store backed by ``<home>/store.sqlite``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._migrate()

    # -- connection and schema -------------------------------------------------------
    @property
    def _conn(self) -> sqlite3.Connection:
        """One connection per thread: sqlite3 connections must not cross threads."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            self._local.depth = 0
        return conn

    def _migrate(self) -> None:
        """Bring the file up to SCHEMA_VERSION, one migration per transaction.

        The version is re-read inside each write transaction, so two processes opening a
        new home at once do not both run the same migration.
        """
        conn = self._conn
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        while True:
            with self.transaction():
                version = self._stored_version()
                if version > SCHEMA_VERSION:
                    raise SchemaTooNewError(
                        f"{self.path} has schema version {version}; this shoplm knows up to "
                        f"{SCHEMA_VERSION}. Upgrade shoplm."
                    )
                if version == SCHEMA_VERSION:
                    return
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version + 1),)
                )

    def _stored_version(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    @property
    def schema_version(self) -> int:
        return self._stored_version()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit all writes inside together; on any exception roll all of them back.

        Nested use joins the outer transaction, so an ingest batch that calls several
        store methods is still one unit.  A nested block is also a savepoint: if it raises,
        its own writes are undone even when the caller catches the error and the outer
        transaction goes on to commit.
        """
        conn = self._conn
        with self._write_lock:
            depth = self._local.depth
            savepoint = f"shoplm_{depth}"
            conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}")
            self._local.depth = depth + 1
            try:
                yield
            except BaseException:
                self._local.depth = depth
                if depth == 0:
                    conn.execute("ROLLBACK")
                else:
                    conn.execute(f"ROLLBACK TO {savepoint}")
                    conn.execute(f"RELEASE {savepoint}")
                raise
            self._local.depth = depth
            if depth > 0:
                conn.execute(f"RELEASE {savepoint}")
                return
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # a failed COMMIT must not leave the batch half-open
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- platforms ---------------------------------------------------------------------
    def _ensure_platforms(self, names: Iterable[str]) -> None:
        now = time.time()
        self._conn.executemany(
            "INSERT OR IGNORE INTO platforms (name, created_at) VALUES (?, ?)",
            [(name, now) for name in set(names)],
        )

    # -- items ---------------------------------------------------------------------------
    def upsert_items(self, items: Iterable[Item]) -> UpsertResult:
        """Insert new items, update changed ones, leave identical ones untouched."""
        inserted = updated = unchanged = 0
        now = time.time()
        with self.transaction():
            conn = self._conn
            batch = list(items)
            self._ensure_platforms(item.platform for item in batch)
            for item in batch:
                digest = item.content_hash()
                row = conn.execute(
                    "SELECT content_hash, created_at FROM items WHERE platform=? AND item_id=?",
                    (item.platform, item.item_id),
                ).fetchone()
                if row is not None and row[0] == digest:
                    unchanged += 1
                    continue
                created = item.created_at or (row[1] if row else None) or now
                # An upsert, not INSERT OR REPLACE: REPLACE deletes the row and inserts a new
                # one, which would move an updated item to the end of the catalog order.
                conn.execute(
                    "INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (platform, item_id) DO UPDATE SET title=excluded.title, "
                    "description=excluded.description, brand=excluded.brand, "
                    "category=excluded.category, price=excluded.price, "
                    "attributes=excluded.attributes, created_at=excluded.created_at, "
                    "updated_at=excluded.updated_at, content_hash=excluded.content_hash",
                    item_row(item, created, item.updated_at or now, digest),
                )
                if row is None:
                    inserted += 1
                else:
                    updated += 1
        return UpsertResult(inserted, updated, unchanged)

    def delete_items(self, platform: str, item_ids: Iterable[str]) -> int:
        with self.transaction():
            cursor = self._conn.executemany(
                "DELETE FROM items WHERE platform=? AND item_id=?",
                [(platform, item_id) for item_id in item_ids],
            )
            return cursor.rowcount

    def get_items(self, platform: str, item_ids: Iterable[str]) -> dict[str, Item]:
        ids = list(dict.fromkeys(item_ids))
        found: dict[str, Item] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {ITEM_COLUMNS} FROM items WHERE platform=? AND item_id IN ({marks})",
                (platform, *chunk),
            ).fetchall()
            for row in rows:
                found[row[1]] = item_from_row(row)
        return found

    def iter_items(self, platform: str | None = None) -> Iterator[Item]:
        """All items in a stable order (platform, insertion), streamed."""
        sql = f"SELECT {ITEM_COLUMNS} FROM items"
        params: tuple = ()
        if platform is not None:
            sql += " WHERE platform=?"
            params = (platform,)
        sql += " ORDER BY platform, rowid"
        for row in self._conn.execute(sql, params):
            yield item_from_row(row)

    def item_ids(self, platform: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT item_id FROM items WHERE platform=? ORDER BY rowid", (platform,)
        ).fetchall()
        return [r[0] for r in rows]

    # -- events ----------------------------------------------------------------------------
    def append_events(self, events: Iterable[Event]) -> AppendResult:
        """Append events; one already stored under the same dedup key is skipped."""
        batch = list(events)
        with self.transaction():
            conn = self._conn
            self._ensure_platforms(event.platform for event in batch)
            before = conn.total_changes
            conn.executemany(
                f"INSERT OR IGNORE INTO events ({EVENT_INSERT_FIELDS}) VALUES (?,?,?,?,?,?,?,?,?)",
                [event_row(e) for e in batch],
            )
            added = conn.total_changes - before
        return AppendResult(added=added, duplicates=len(batch) - added)
