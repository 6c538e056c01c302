"""Persistence: items, events and platforms behind one protocol."""

from shoplm.store.base import AppendResult, EventColumns, Store, UpsertResult
from shoplm.store.sqlite import SQLiteStore

__all__ = ["AppendResult", "EventColumns", "SQLiteStore", "Store", "UpsertResult"]
