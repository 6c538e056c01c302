"""PostgresStore only: migrations in the database, sharing it between connections, atomicity.

Several API workers share one database, so these tests open several stores (each with its own
connections, as separate processes would have) on one fresh schema.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from shoplm.schema import Event, Item
from shoplm.store import AppendResult, UpsertResult, open_store
from shoplm.store.postgres import MIGRATIONS, MIGRATIONS_TABLE, SCHEMA_VERSION, PostgresStore
from shoplm.store.sqlite import SchemaTooNewError


def _items(*ids: str, platform: str = "default") -> list[Item]:
    return [Item(item_id=i, title=f"title {i}", platform=platform) for i in ids]


def _view(user: str, item: str, t: float) -> Event:
    return Event(user_id=user, item_id=item, type="view", timestamp=t)


def _run_together(target, count: int) -> list:
    """Run ``target(n)`` in ``count`` threads released at once; their results in order."""
    results: list = [None] * count
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(n: int) -> None:
        try:
            barrier.wait()
            results[n] = target(n)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_open_store_picks_postgres_and_records_migrations(postgres_url: str) -> None:
    before = time.time()
    store = open_store(postgres_url)
    assert isinstance(store, PostgresStore)
    assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    applied = store.applied_migrations()
    assert [version for version, _ in applied] == list(range(1, SCHEMA_VERSION + 1))
    assert all(before - 5 <= at <= time.time() + 5 for _, at in applied)
    store.close()
    again = PostgresStore(postgres_url)  # reopening must not rerun anything
    assert again.applied_migrations() == applied
    again.close()


def test_stores_opened_at_once_migrate_once(postgres_url: str) -> None:
    stores = _run_together(lambda n: PostgresStore(postgres_url), 4)
    assert [s.schema_version for s in stores] == [SCHEMA_VERSION] * 4
    assert len(stores[0].applied_migrations()) == SCHEMA_VERSION
    for store in stores:
        store.close()


def test_newer_schema_is_refused(postgres_url: str) -> None:
    PostgresStore(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (%s, 0)", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNewError, match="Upgrade shoplm"):
        PostgresStore(postgres_url)


def test_two_stores_see_each_others_committed_writes(postgres_url: str) -> None:
    writer, reader = PostgresStore(postgres_url), PostgresStore(postgres_url)
    with writer.transaction():
        writer.upsert_items(_items("a"))
        writer.append_events([_view("u", "a", 1.0)])
        assert reader.count_items() == 0 and reader.count_events() == 0  # not yet committed
    assert reader.item_ids("default") == ["a"] and reader.count_events() == 1
    assert reader.upsert_items(_items("a", "b")) == UpsertResult(1, 0, 1)
    assert writer.item_ids("default") == ["a", "b"]
    assert writer.append_events([_view("u", "a", 1.0)]) == AppendResult(0, 1)  # reader's dedup
    writer.close()
    reader.close()


def test_a_failed_transaction_leaves_nothing_anywhere(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        store.upsert_items(_items("a", "b", platform="new"))
        store.append_events([_view("u", "a", 1.0)])
        raise RuntimeError("boom")
    with psycopg.connect(postgres_url) as conn:
        for table in ("items", "events", "platforms"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
    # The store's own connection is clean and usable afterwards.
    assert store.append_events([_view("u", "a", 1.0)]) == AppendResult(1, 0)
    assert store.count_events() == 1
    store.close()


def test_text_postgres_cannot_hold_is_refused_naming_the_field(postgres_url: str) -> None:
    """PostgreSQL text cannot hold NUL: the batch is refused whole, naming the row and field."""
    store = PostgresStore(postgres_url)
    with pytest.raises(ValueError, match=r"item default/bad: title .*NUL"):
        store.upsert_items([*_items("ok"), Item(item_id="bad", title="a\x00b")])
    with pytest.raises(ValueError, match=r"item default/c: attributes.k .*NUL"):
        store.upsert_items([Item(item_id="c", title="t", attributes={"k": "v\x00"})])
    bad_event = Event(user_id="u\x00", item_id="a", timestamp=1.0)
    with pytest.raises(ValueError, match=r"event 2 .*user_id .*NUL"):
        store.append_events([_view("u", "a", 1.0), bad_event])
    assert store.count_items() == 0 and store.count_events() == 0 and store.platforms() == []
    assert store.upsert_items(_items("ok")).inserted == 1
    store.close()


@pytest.mark.parametrize("size", [40, 2000])  # one executemany / COPY through staging
def test_concurrent_appends_of_the_same_events_store_each_once(
    postgres_url: str, size: int
) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(3)]
    events = [_view(f"u{n % 7}", f"i{n}", float(n)) for n in range(size)]

    def append(n: int) -> AppendResult:
        batch = events if n % 2 == 0 else list(reversed(events))  # opposite key orders
        return stores[n].append_events(batch)

    results = _run_together(append, 3)
    assert sum(r.added for r in results) == size
    assert all(r.added + r.duplicates == size for r in results)
    assert stores[0].count_events() == size
    for store in stores:
        store.close()


def test_concurrent_upserts_count_exactly(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(3)]
    ids = [f"i{n}" for n in range(300)]
    results = _run_together(lambda n: stores[n].upsert_items(_items(*ids)), 3)
    assert sum(r.inserted for r in results) == 300
    assert sum(r.unchanged for r in results) == 600
    assert all(r.updated == 0 for r in results)
    for store in stores:
        store.close()


def test_threads_share_one_store(postgres_url: str) -> None:
    """Each thread gets its own connection, so transactions in threads do not mix."""
    store = PostgresStore(postgres_url)

    def work(n: int) -> int:
        with store.transaction():
            store.upsert_items(_items(f"t{n}"))
            store.append_events([_view(f"u{n}", f"t{n}", float(n))])
        return store.count_items()

    _run_together(work, 4)
    assert store.count_items() == 4 and store.count_events() == 4
    store.close()


def test_bulk_append_is_fast(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    events = [_view(f"u{n % 1000}", f"i{n % 5000}", float(n)) for n in range(20_000)]
    started = time.perf_counter()
    assert store.append_events(events) == AppendResult(20_000, 0)
    elapsed = time.perf_counter() - started
    assert elapsed < 20, f"20k events took {elapsed:.1f}s"  # COPY: well under a second alone
    assert len(store.event_columns("default")) == 20_000
    store.close()


def test_unreachable_database_is_a_clear_error(tmp_path) -> None:
    url = f"postgresql://nobody@/nowhere?host={tmp_path}&port=1"
    with pytest.raises(ConnectionError, match="cannot connect to the store database"):
        PostgresStore(url)


def test_password_is_hidden_from_messages(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    store.url = "postgresql://shop:s3cret@db.example:5432/shop"
    assert "s3cret" not in repr(store) and "shop:***@db.example" in repr(store)
    store.close()


def test_items_stream_in_pages(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many small pages (past psycopg's prepared-statement threshold) keep the catalog order."""
    monkeypatch.setattr("shoplm.store.postgres._ITEM_PAGE", 3)
    store = PostgresStore(postgres_url)
    store.upsert_items(_items(*[f"b{n}" for n in range(20)], platform="b"))
    store.upsert_items(_items(*[f"a{n}" for n in range(20)], platform="a"))
    expected = [f"a{n}" for n in range(20)] + [f"b{n}" for n in range(20)]
    assert [item.item_id for item in store.iter_items()] == expected
    assert [item.item_id for item in store.iter_items("b")] == expected[20:]
    assert all(isinstance(item.item_id, str) for item in store.iter_items("a"))
    store.close()
