"""SQLiteStore only: the schema of a file, reopening, migrations, readers of the file.

The behaviour every backend shares is tested in test_store_contract.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shoplm.schema import Event, Item
from shoplm.store import SQLiteStore
from shoplm.store.sqlite import MIGRATIONS, SCHEMA_VERSION, SchemaTooNewError


@pytest.fixture()
def store(tmp_path: Path) -> SQLiteStore:
    opened = SQLiteStore(tmp_path / "home" / "store.sqlite")
    yield opened
    opened.close()


def _items(*ids: str, platform: str = "default", **fields: object) -> list[Item]:
    return [Item(item_id=i, title=f"title {i}", platform=platform, **fields) for i in ids]


def _view(user: str, item: str, t: float, **fields: object) -> Event:
    return Event(user_id=user, item_id=item, type="view", timestamp=t, **fields)


# -- schema and reopening --------------------------------------------------------------------
def test_new_store_records_schema_version(store: SQLiteStore) -> None:
    assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    assert store.platforms() == []
    assert store.count_items() == 0 and store.count_events() == 0


def test_reopen_persists_everything(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    first = SQLiteStore(path)
    first.upsert_items(_items("a", "b", price=3.5, attributes={"size": "M"}))
    first.append_events([_view("u", "a", 1.0), _view("u", "b", 2.0)])
    first.close()
    again = SQLiteStore(path)
    assert again.schema_version == SCHEMA_VERSION
    assert again.item_ids("default") == ["a", "b"]
    item = again.get_item("default", "a")
    assert item is not None and item.price == 3.5 and item.attributes == {"size": "M"}
    assert again.count_events() == 2
    again.close()


def test_migrations_run_on_reopen_of_an_old_file(tmp_path: Path) -> None:
    """A file at version 0 (only the meta table) is upgraded when opened."""
    path = tmp_path / "store.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.upsert_items(_items("a")).inserted == 1
    store.close()


def test_reopening_does_not_rerun_migrations(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    SQLiteStore(path).close()
    SQLiteStore(path).close()  # would fail with "table already exists" if rerun
    assert SQLiteStore(path).schema_version == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNewError, match="Upgrade shoplm"):
        SQLiteStore(path)


def test_other_connection_sees_nothing_until_commit(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    writer = SQLiteStore(path)
    reader = sqlite3.connect(path)
    with writer.transaction():
        writer.upsert_items(_items("a"))
        assert reader.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    assert reader.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 1
    reader.close()
    writer.close()
