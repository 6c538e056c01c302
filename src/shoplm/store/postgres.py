"""The PostgreSQL store: the same protocol as SQLiteStore, in a database several processes share.

API workers on several machines can point at one database: each thread holds its own
connection, writes are ordinary PostgreSQL transactions, and the few steps that must not
interleave across processes (schema migrations, counting an item batch's inserts against
its updates) take transaction-scoped advisory locks.  Tables are created in the connection's
current schema, so one database can hold several homes (``options=-csearch_path=...``).

Semantics match SQLiteStore exactly (same counts, dedup key, ordering and nesting), so the
engine never needs to know which backend it runs on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import psycopg

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
from shoplm.store.sqlite import SchemaTooNewError

# Each entry upgrades the schema by one version.  Never edit a released entry: append.
# Key columns use the "C" collation so text sorts by code point, as SQLite sorts it.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE platforms (
        name TEXT COLLATE "C" PRIMARY KEY,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE items (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        platform TEXT COLLATE "C" NOT NULL,
        item_id TEXT COLLATE "C" NOT NULL,
        title TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        brand TEXT NOT NULL DEFAULT '',
        category TEXT NOT NULL DEFAULT '',
        price DOUBLE PRECISION,
        attributes TEXT NOT NULL DEFAULT '{}',
        created_at DOUBLE PRECISION,
        updated_at DOUBLE PRECISION,
        content_hash TEXT NOT NULL,
        PRIMARY KEY (platform, item_id)
    );
    CREATE INDEX items_order ON items (platform, seq);
    CREATE TABLE events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_key TEXT COLLATE "C" NOT NULL UNIQUE,
        platform TEXT COLLATE "C" NOT NULL,
        user_id TEXT COLLATE "C" NOT NULL,
        item_id TEXT COLLATE "C",
        type TEXT NOT NULL,
        value DOUBLE PRECISION,
        query TEXT,
        session_id TEXT,
        timestamp DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX events_user ON events (platform, user_id, timestamp, seq);
    CREATE INDEX events_item ON events (platform, item_id);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
MIGRATIONS_TABLE = "shoplm_migrations"

# First keys of the two-int advisory locks (the second key hashes schema and platform).
_LOCK_MIGRATE = 7_419_001
_LOCK_ITEMS = 7_419_002
_ITEM_PAGE = 2000  # rows per page when streaming items
_SMALL_BATCH = 64  # events up to which an append is one executemany rather than a COPY

_UPSERT_ITEM = (
    f"INSERT INTO items ({ITEM_COLUMNS}, content_hash) "
    "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
    "ON CONFLICT (platform, item_id) DO UPDATE SET title=excluded.title, "
    "description=excluded.description, brand=excluded.brand, category=excluded.category, "
    "price=excluded.price, attributes=excluded.attributes, created_at=excluded.created_at, "
    "updated_at=excluded.updated_at, content_hash=excluded.content_hash"
)


def lock_schema(conn: psycopg.Connection, key: int) -> None:
    """Take advisory lock ``key`` for this schema until the transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (key,))


def connect(url: str, what: str) -> psycopg.Connection:
    """An autocommit connection; a refused one is a ConnectionError naming ``what``."""
    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError as error:
        raise ConnectionError(f"cannot connect to {what}: {error}") from error


def _refuse_nul(fields: dict[str, object], what: str) -> None:
    """PostgreSQL text cannot hold NUL characters (SQLite can): name the row and field."""
    for name, value in fields.items():
        if isinstance(value, str) and "\x00" in value:
            raise ValueError(
                f"{what}: {name} contains a NUL character, which PostgreSQL cannot store"
            )
        if isinstance(value, dict):
            _refuse_nul({f"{name}.{k}": f"{k}{v}" for k, v in value.items()}, what)


class PostgresStore(SharedReads):
    """Store backed by a PostgreSQL database (psycopg 3), shared safely between processes."""

    PARAM = "%s"

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._connections: set[psycopg.Connection] = set()
        self._connections_lock = threading.Lock()
        try:
            self._migrate()
        except BaseException:
            self.close()  # a refused database must not keep a connection open
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self._safe_url()!r})"

    def _safe_url(self) -> str:
        """The URL without a password, for messages."""
        head, at, tail = self.url.rpartition("@")
        if not at or ":" not in head.split("//", 1)[-1]:
            return self.url
        scheme, _, user = head.partition("//")
        return f"{scheme}//{user.split(':', 1)[0]}:***@{tail}"

    # -- connection and schema -------------------------------------------------------
    @property
    def _conn(self) -> psycopg.Connection:
        """One autocommit connection per thread; a broken one is replaced between transactions."""
        conn: psycopg.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.closed and not getattr(self._local, "depth", 0):
            self._forget(conn)
            conn = None
        if conn is None:
            conn = connect(self.url, f"the store database {self._safe_url()}")
            with self._connections_lock:
                self._connections.add(conn)
            self._local.conn = conn
            self._local.depth = 0
        return conn

    def _forget(self, conn: psycopg.Connection) -> None:
        with self._connections_lock:
            self._connections.discard(conn)
        self._local.conn = None

    def _migrate(self) -> None:
        """Bring the schema up to SCHEMA_VERSION in one transaction.

        An advisory lock keyed on the schema serialises processes that open a new database
        at once, so no migration runs twice.
        """
        encoding = self._conn.execute("SHOW server_encoding").fetchone()[0]
        if encoding != "UTF8":
            raise ValueError(
                f"the store database {self._safe_url()} uses encoding {encoding}; shoplm needs "
                "UTF8 (CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)"
            )
        with self.transaction():
            conn = self._conn
            lock_schema(conn, _LOCK_MIGRATE)
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
                "version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
            )
            version = self._stored_version()
            if version > SCHEMA_VERSION:
                raise SchemaTooNewError(
                    f"{self._safe_url()} has schema version {version}; this shoplm knows up to "
                    f"{SCHEMA_VERSION}. Upgrade shoplm."
                )
            for number in range(version, SCHEMA_VERSION):
                conn.execute(MIGRATIONS[number])  # no parameters: several statements at once
                conn.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} VALUES (%s, %s)", (number + 1, time.time())
                )

    def _stored_version(self) -> int:
        row = self._conn.execute(f"SELECT MAX(version) FROM {MIGRATIONS_TABLE}").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    @property
    def schema_version(self) -> int:
        return self._stored_version()

    def applied_migrations(self) -> list[tuple[int, float]]:
        """(version, applied at) for every migration run on this database, oldest first."""
        rows = self._conn.execute(
            f"SELECT version, applied_at FROM {MIGRATIONS_TABLE} ORDER BY version"
        ).fetchall()
        return [(int(v), float(t)) for v, t in rows]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit all writes inside together; on any exception roll all of them back.

        Nested use joins the outer transaction as a savepoint, exactly like SQLiteStore: a
        failing inner block undoes its own writes even when the caller catches the error.
        """
        conn = self._conn
        self._local.depth += 1
        try:
            with conn.transaction():
                yield
        finally:
            self._local.depth -= 1

    def close(self) -> None:
        """Close every connection this store opened, in any thread."""
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            conn.close()
        self._local.conn = None

    # -- platforms ---------------------------------------------------------------------
    def _ensure_platforms(self, names: Iterable[str]) -> None:
        now = time.time()
        with self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO platforms (name, created_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [(name, now) for name in sorted(set(names))],  # sorted: no lock-order deadlock
            )

    # -- items ---------------------------------------------------------------------------
    def _lock_items(self, platforms: list[str]) -> None:
        """Serialise item writes per platform across processes until the transaction ends."""
        for name in sorted(platforms):
            self._conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema() || ':' || %s))",
                (_LOCK_ITEMS, name),
            )

    def upsert_items(self, items: Iterable[Item]) -> UpsertResult:
        """Insert new items, update changed ones, leave identical ones untouched.

        A per-platform advisory lock makes the inserted/updated/unchanged counts exact even
        when two processes upsert the same items at once.
        """
        batch = list(items)
        inserted = updated = unchanged = 0
        now = time.time()
        with self.transaction():
            conn = self._conn
            names = sorted({item.platform for item in batch})
            self._lock_items(names)
            self._ensure_platforms(names)
            stored: dict[tuple[str, str], tuple[str, float | None]] = {}
            for name in names:
                ids = list({item.item_id for item in batch if item.platform == name})
                rows = conn.execute(
                    "SELECT item_id, content_hash, created_at FROM items "
                    "WHERE platform=%s AND item_id = ANY(%s)",
                    (name, ids),
                ).fetchall()
                stored.update({(name, r[0]): (r[1], r[2]) for r in rows})
            writes = []
            for item in batch:
                texts = (item.title, item.description, item.brand, item.category, item.item_id)
                if "\x00" in "".join((*texts, *item.attributes.keys(), *item.attributes.values())):
                    _refuse_nul(dict(item), f"item {item.platform}/{item.item_id}")
                key = (item.platform, item.item_id)
                digest = item.content_hash()
                previous = stored.get(key)
                if previous is not None and previous[0] == digest:
                    unchanged += 1
                    continue
                created = item.created_at or (previous[1] if previous else None) or now
                writes.append(item_row(item, created, item.updated_at or now, digest))
                stored[key] = (digest, created)  # a repeat later in the batch compares to this
                if previous is None:
                    inserted += 1
                else:
                    updated += 1
            if writes:
                with conn.cursor() as cur:
                    cur.executemany(_UPSERT_ITEM, writes)
        return UpsertResult(inserted, updated, unchanged)

    def delete_items(self, platform: str, item_ids: Iterable[str]) -> int:
        ids = list(item_ids)
        with self.transaction():
            self._lock_items([platform])
            cursor = self._conn.execute(
                "DELETE FROM items WHERE platform=%s AND item_id = ANY(%s)", (platform, ids)
            )
            return max(cursor.rowcount, 0)

    def get_items(self, platform: str, item_ids: Iterable[str]) -> dict[str, Item]:
        ids = list(dict.fromkeys(item_ids))
        if not ids:
            return {}
        rows = self._conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE platform=%s AND item_id = ANY(%s)",
            (platform, ids),
        ).fetchall()
        return {row[1]: item_from_row(row) for row in rows}

    def iter_items(self, platform: str | None = None) -> Iterator[Item]:
        """All items in a stable order (platform, insertion), streamed page by page.

        Keyset pages hold no transaction open between them, so a slow consumer never blocks
        writers (or pins old row versions) on a shared database.
        """
        where = "" if platform is None else "platform=%s AND "
        sql = (
            f"SELECT {ITEM_COLUMNS}, seq FROM items "
            f"WHERE {where}(platform, seq) > (%s::text, %s::bigint) "
            f"ORDER BY platform, seq LIMIT {_ITEM_PAGE}"
        )
        last: tuple[str, int] = ("", -1)
        while True:
            params = last if platform is None else (platform, *last)
            rows = self._conn.execute(sql, params).fetchall()
            for row in rows:
                yield item_from_row(row)
            if len(rows) < _ITEM_PAGE:
                return
            last = (rows[-1][0], rows[-1][-1])

    def item_ids(self, platform: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT item_id FROM items WHERE platform=%s ORDER BY seq", (platform,)
        ).fetchall()
        return [r[0] for r in rows]

    # -- events ----------------------------------------------------------------------------
    def append_events(self, events: Iterable[Event]) -> AppendResult:
        """Append events; one already stored under the same dedup key is skipped.

        Sequence numbers (the arrival order that breaks timestamp ties) are drawn first, in
        batch order; rows are then inserted in key order, so two processes appending
        overlapping batches lock keys in the same order and cannot deadlock.  A small batch
        (the API's single events) is one pipelined executemany; a large one is COPYed into a
        session-private staging table and moved over in one INSERT ... ON CONFLICT DO NOTHING,
        fast for 100k rows.  Both count exactly what they added.
        """
        rows = []
        for number, e in enumerate(events, start=1):
            if "\x00" in f"{e.platform}{e.user_id}{e.item_id}{e.query}{e.session_id}{e.event_id}":
                _refuse_nul(dict(e), f"event {number} (user {e.user_id!r})")
            rows.append(event_row(e))
        if not rows:
            return AppendResult(0, 0)
        with self.transaction():
            conn = self._conn
            seqs = sorted(
                row[0]
                for row in conn.execute(
                    "SELECT nextval(pg_get_serial_sequence('events', 'seq')) "
                    "FROM generate_series(1, %s)",
                    (len(rows),),
                )
            )
            self._ensure_platforms(row[1] for row in rows)
            if len(rows) <= _SMALL_BATCH:
                keyed = sorted(zip(seqs, rows, strict=True), key=lambda pair: (pair[1][0], pair[0]))
                with conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO events (seq, {EVENT_INSERT_FIELDS}) OVERRIDING SYSTEM VALUE "
                        "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (event_key) DO NOTHING",
                        [(seq, *row) for seq, row in keyed],
                    )
                    added = max(cur.rowcount, 0)
            else:
                added = self._append_staged(seqs, rows)
        return AppendResult(added=added, duplicates=len(rows) - added)

    def _append_staged(self, seqs: list[int], rows: list[tuple]) -> int:
        conn = self._conn
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS shoplm_events_in (seq BIGINT, "
            "event_key TEXT, platform TEXT, user_id TEXT, item_id TEXT, type TEXT, "
            "value DOUBLE PRECISION, query TEXT, session_id TEXT, "
            "timestamp DOUBLE PRECISION) ON COMMIT DELETE ROWS"
        )
        conn.execute("DELETE FROM shoplm_events_in")  # left by an earlier call in this txn
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY shoplm_events_in (seq, {EVENT_INSERT_FIELDS}) FROM STDIN") as copy,
        ):
            for seq, row in zip(seqs, rows, strict=True):
                copy.write_row((seq, *row))
        cursor = conn.execute(
            f"INSERT INTO events (seq, {EVENT_INSERT_FIELDS}) OVERRIDING SYSTEM VALUE "
            f"SELECT seq, {EVENT_INSERT_FIELDS} FROM shoplm_events_in "
            'ORDER BY event_key COLLATE "C", seq ON CONFLICT (event_key) DO NOTHING'
        )
        return cursor.rowcount
