"""Persistence: items, events and platforms behind one protocol.

SQLite (one file in the engine home) is the default; a ``postgresql://`` URL selects the
PostgreSQL backend, which needs the ``postgres`` extra (psycopg, pgvector).  The PostgreSQL
modules are imported only when such a URL is opened, so the default install never needs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shoplm.store.base import AppendResult, EventColumns, SearchClick, Store, UpsertResult
from shoplm.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from shoplm.text.cache import EmbeddingCache

__all__ = [
    "AppendResult",
    "EventColumns",
    "SQLiteStore",
    "SearchClick",
    "Store",
    "UpsertResult",
    "is_postgres_url",
    "open_embedding_cache",
    "open_store",
]

_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_PREFIXES = ("postgresql://", "postgres://")
_MISSING_EXTRA = (
    "the PostgreSQL backend needs the 'postgres' extra: pip install 'shoplm[postgres]' "
    "(psycopg and pgvector)"
)


def is_postgres_url(url: object) -> bool:
    """True for a ``postgresql://`` or ``postgres://`` connection URL."""
    return isinstance(url, str) and url.startswith(_POSTGRES_PREFIXES)


def _sqlite_path(url_or_path: str | Path, base: Path | None = None) -> Path:
    """A file path, or ``sqlite:///relative/path`` / ``sqlite:////absolute/path``.

    A relative path is taken from ``base`` (the engine home) when given.
    """
    text = str(url_or_path)
    if text.startswith(_SQLITE_PREFIX):
        text = text[len(_SQLITE_PREFIX) :]
    elif "://" in text:
        raise ValueError(
            f"unsupported store URL {text!r}: use a file path, sqlite:///path or "
            "postgresql://user@host/database"
        )
    if not text:
        raise ValueError(f"the store URL {str(url_or_path)!r} names no file")
    path = Path(text).expanduser()
    return base / path if base is not None and not path.is_absolute() else path


def open_store(url_or_path: str | Path, base: Path | None = None) -> Store:
    """The store a path or URL names: SQLite for a path or ``sqlite:///``, else PostgreSQL.

    A relative SQLite path is taken from ``base`` when given (the engine passes its home).
    """
    if is_postgres_url(url_or_path):
        try:
            from shoplm.store.postgres import PostgresStore
        except ImportError as error:
            raise ImportError(_MISSING_EXTRA) from error
        return PostgresStore(str(url_or_path))
    return SQLiteStore(_sqlite_path(url_or_path, base))


def open_embedding_cache(url_or_path: str | Path) -> EmbeddingCache:
    """The embedding cache a path or URL names: a SQLite file, or pgvector for a PostgreSQL URL.

    Both kinds have the same interface (get_many, put_many, count, close).
    """
    if is_postgres_url(url_or_path):
        try:
            from shoplm.store.vectors_pg import PostgresEmbeddingCache
        except ImportError as error:
            raise ImportError(_MISSING_EXTRA) from error
        return PostgresEmbeddingCache(str(url_or_path))  # type: ignore[return-value]
    from shoplm.text.cache import EmbeddingCache

    return EmbeddingCache(_sqlite_path(url_or_path))
