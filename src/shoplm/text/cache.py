"""A shared on-disk cache of text embeddings, so a catalog is encoded once per model.

Keyed by (model id, SHA-256 of the text): different models never mix, and one file can serve
several engine homes and evaluation runs at once (SQLite in WAL mode, with a busy timeout, is
safe for concurrent processes).  Vectors are stored as little-endian float32 bytes.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model_id  TEXT    NOT NULL,
    text_hash TEXT    NOT NULL,
    dim       INTEGER NOT NULL,
    vector    BLOB    NOT NULL,
    PRIMARY KEY (model_id, text_hash)
) WITHOUT ROWID
"""
_CHUNK = 500  # keys per IN (...) query, well below SQLite's variable limit
_DTYPE = np.dtype("<f4")


def text_hash(text: str) -> str:
    """The cache key of a text: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Embeddings by (model_id, text hash) in one SQLite file."""

    def __init__(self, path: Path | str, timeout_s: float = 60.0) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.path, timeout=timeout_s, check_same_thread=False, isolation_level=None
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"the embedding cache {self.path} is closed")
        return self._conn

    def get_many(self, model_id: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``hashes``; missing ones are simply absent."""
        keys = list(dict.fromkeys(hashes))
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self.conn.execute(
                    "SELECT text_hash, dim, vector FROM embeddings "
                    f"WHERE model_id = ? AND text_hash IN ({marks})",
                    (model_id, *chunk),
                )
                for key, dim, blob in rows:
                    if len(blob) != dim * _DTYPE.itemsize:
                        continue  # a torn or foreign row: treat as missing, it gets re-encoded
                    found[key] = np.frombuffer(blob, dtype=_DTYPE).astype(np.float32)
        return found

    def put_many(self, model_id: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Store (or replace) vectors in one transaction."""
        rows = []
        for key, vector in vectors.items():
            array = np.asarray(vector, dtype=_DTYPE)
            if array.ndim != 1 or not np.isfinite(array).all():
                raise ValueError(
                    f"embedding for text hash {key} must be a finite 1-d vector, "
                    f"got shape {array.shape}"
                )
            rows.append((model_id, key, int(array.shape[0]), array.tobytes()))
        if not rows:
            return
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO embeddings (model_id, text_hash, dim, vector) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def count(self, model_id: str) -> int:
        """How many texts are cached for one model."""
        with self._lock:
            (n,) = self.conn.execute(
                "SELECT COUNT(*) FROM embeddings WHERE model_id = ?", (model_id,)
            ).fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
