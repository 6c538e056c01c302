"""Text embeddings in PostgreSQL with pgvector: EmbeddingCache's interface, shared by every worker.

With the store in PostgreSQL, the vectors live beside it, so a fleet of API workers encodes a
catalog once.  Each model gets its own table with a typed ``vector(dim)`` column (a model's
vectors all have one dimension, and pgvector's indexes need it fixed), listed in a small
registry table.  ``nearest`` answers cosine nearest-neighbour queries from an HNSW index,
built the first time it is asked for, so filling the cache never pays for index upkeep that
nobody uses.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from shoplm.store.postgres import connect, lock_schema

REGISTRY_TABLE = "shoplm_vector_models"
_LOCK_VECTORS = 7_419_003  # advisory lock: creating the registry, a model table or an index
_CHUNK = 10_000  # keys per ANY(...) query
_MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search
_FIND_MODEL = f"SELECT table_name, dim FROM {REGISTRY_TABLE} WHERE model_id=%s"


class VectorExtensionError(RuntimeError):
    """The database lacks the pgvector extension, or the right to create it."""


class PostgresEmbeddingCache:
    """Embeddings by (model_id, text hash) in PostgreSQL, one ``vector(dim)`` table per model.

    The same methods as ``shoplm.text.cache.EmbeddingCache`` (get_many, put_many, count,
    close, ``with``), so the encoder takes either.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._tables: dict[str, tuple[str, int]] = {}
        self._indexed: set[str] = set()
        conn = connect(url, "the embedding database")
        try:
            _ensure_extension(conn)
            register_vector(conn)
            with conn.transaction():
                lock_schema(conn, _LOCK_VECTORS)
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {REGISTRY_TABLE} (model_id TEXT PRIMARY KEY, "
                    "table_name TEXT NOT NULL UNIQUE, dim INTEGER NOT NULL)"
                )
        except BaseException:
            conn.close()
            raise
        self._conn: psycopg.Connection | None = conn

    def __enter__(self) -> PostgresEmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None:
            raise RuntimeError("the PostgreSQL embedding cache is closed")
        return self._conn

    # -- model tables ----------------------------------------------------------------------
    def _table(self, model_id: str, create_dim: int | None = None) -> tuple[str, int] | None:
        """(table, dim) of a model; created with ``create_dim`` when absent and asked to."""
        known = self._tables.get(model_id)
        if known is not None:
            return known
        row = self.conn.execute(_FIND_MODEL, (model_id,)).fetchone()
        if row is None and create_dim is not None:
            table = "shoplm_vectors_" + hashlib.sha1(model_id.encode()).hexdigest()[:16]
            with self.conn.transaction():
                lock_schema(self.conn, _LOCK_VECTORS)
                self.conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} (text_hash TEXT PRIMARY KEY, "
                    f"vector vector({int(create_dim)}) NOT NULL)"
                )
                self.conn.execute(
                    f"INSERT INTO {REGISTRY_TABLE} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (model_id, table, int(create_dim)),
                )
                # Another process may have registered the model first: its row wins.
                row = self.conn.execute(_FIND_MODEL, (model_id,)).fetchone()
        if row is None:
            return None
        self._tables[model_id] = (row[0], int(row[1]))
        return self._tables[model_id]

    # -- the EmbeddingCache interface ------------------------------------------------------
    def get_many(self, model_id: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``hashes``; missing ones are simply absent."""
        keys = list(dict.fromkeys(hashes))
        found: dict[str, np.ndarray] = {}
        with self._lock:
            known = self._table(model_id)
            if known is None or not keys:
                return found
            with self.conn.cursor(binary=True) as cur:  # binary: exact float32, no parsing
                for start in range(0, len(keys), _CHUNK):
                    cur.execute(
                        f"SELECT text_hash, vector FROM {known[0]} WHERE text_hash = ANY(%s)",
                        (keys[start : start + _CHUNK],),
                    )
                    for key, vector in cur:
                        found[key] = vector.to_numpy().astype(np.float32, copy=False)
        return found

    def put_many(self, model_id: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Store (or replace) vectors in one transaction; a model keeps one dimension."""
        rows = []
        for key, vector in vectors.items():
            array = np.asarray(vector, dtype=np.float32)
            if array.ndim != 1 or not np.isfinite(array).all() or array.shape[0] == 0:
                raise ValueError(
                    f"embedding for text hash {key} must be a finite 1-d vector, "
                    f"got shape {array.shape}"
                )
            if rows and array.shape[0] != rows[0][1].shape[0]:
                raise ValueError(
                    f"embedding for text hash {key} has {array.shape[0]} dimensions; "
                    f"the others in this batch have {rows[0][1].shape[0]}"
                )
            rows.append((key, array))
        if not rows:
            return
        dim = rows[0][1].shape[0]
        with self._lock:
            table, stored_dim = self._table(model_id, create_dim=dim) or ("", dim)
            if stored_dim != dim:
                raise ValueError(
                    f"model {model_id!r} stores {stored_dim}-dimensional vectors; "
                    f"got {dim} dimensions (text hash {rows[0][0]})"
                )
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {table} (text_hash, vector) VALUES (%s, %s) "
                    "ON CONFLICT (text_hash) DO UPDATE SET vector = excluded.vector",
                    rows,
                )

    def count(self, model_id: str) -> int:
        """How many texts are cached for one model."""
        with self._lock:
            known = self._table(model_id)
            if known is None:
                return 0
            (n,) = self.conn.execute(f"SELECT COUNT(*) FROM {known[0]}").fetchone()
        return int(n)

    # -- nearest neighbours ----------------------------------------------------------------
    def nearest(self, model_id: str, query: np.ndarray, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` cached texts closest to ``query`` by cosine: (text hash, similarity).

        Served by an HNSW index (pgvector ``vector_cosine_ops``), so on a large cache it is
        approximate, like any HNSW search; ``hnsw.ef_search`` is raised to ``k`` so a query
        is never cut short of ``k`` answers by the search width.
        """
        vector = np.asarray(query, dtype=np.float32)
        if vector.ndim != 1 or not np.isfinite(vector).all():
            raise ValueError(f"the query must be a finite 1-d vector, got shape {vector.shape}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        with self._lock:
            known = self._table(model_id)
            if known is None:
                return []
            table, dim = known
            if vector.shape[0] != dim:
                raise ValueError(
                    f"model {model_id!r} stores {dim}-dimensional vectors; "
                    f"the query has {vector.shape[0]}"
                )
            self._ensure_index(table)
            with self.conn.transaction():
                self.conn.execute(
                    "SELECT set_config('hnsw.ef_search', %s, true)",
                    (str(min(max(40, k), _MAX_EF_SEARCH)),),
                )
                rows = self.conn.execute(
                    f"SELECT text_hash, 1 - (vector <=> %s) FROM {table} "
                    "ORDER BY vector <=> %s LIMIT %s",
                    (vector, vector, k),
                ).fetchall()
        return [(key, float(similarity)) for key, similarity in rows]

    def index_name(self, model_id: str) -> str | None:
        """The HNSW index's name for a model (None for an unknown model)."""
        known = self._table(model_id)
        return f"{known[0]}_hnsw" if known else None

    def _ensure_index(self, table: str) -> None:
        if table in self._indexed:
            return
        with self.conn.transaction():
            lock_schema(self.conn, _LOCK_VECTORS)
            self.conn.execute(
                f"CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table} "
                "USING hnsw (vector vector_cosine_ops)"
            )
        self._indexed.add(table)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _ensure_extension(conn: psycopg.Connection) -> None:
    """Create pgvector in the database if it is missing, with an error that says what to do."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname='vector'").fetchone():
        return
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.FeatureNotSupported as error:  # not installed on the server
        raise VectorExtensionError(
            "the PostgreSQL server lacks the pgvector extension: install it (Debian: "
            f"apt-get install postgresql-<major>-pgvector, or `bash .ci/install-postgres`): {error}"
        ) from error
    except psycopg.errors.InsufficientPrivilege as error:
        raise VectorExtensionError(
            "pgvector is installed but not enabled in this database, and this user may not "
            f"enable it: ask an administrator to run CREATE EXTENSION vector: {error}"
        ) from error
