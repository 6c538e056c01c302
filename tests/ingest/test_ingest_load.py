"""End to end into a SQLiteStore: round trips, rejects, idempotence, rollback, records."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shoplm.ingest import IngestError, IngestReport, ingest_file, ingest_records
from shoplm.schema import EventType
from shoplm.store import SQLiteStore


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "home" / "store.sqlite")


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


ITEMS = [
    {"sku": "A1", "name": "Red shoe", "category": "Shoes > Red", "price": "59.90", "colour": "red"},
    {"sku": "B2", "name": "Blue hat", "category": "Hats", "price": "12", "colour": "blue"},
    {"sku": "C3", "name": "Mug", "category": "", "price": "", "colour": ""},
]
MAPPING = {"sku": "item_id", "name": "title"}


def _events(n: int) -> list[dict]:
    return [
        {"user_id": f"u{i % 3}", "item_id": f"i{i}", "type": "view", "timestamp": 1000 + i}
        for i in range(n)
    ]


def test_csv_items_round_trip_with_mapping(store: SQLiteStore, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "items.csv", ITEMS)
    report = ingest_file(store, path, mapping=MAPPING)
    assert report.kind == "items"
    assert (report.rows_read, report.inserted, report.stored, report.rejected) == (3, 3, 3, 0)
    assert report.rejects_path is None
    shoe = store.get_item("default", "A1")
    assert shoe is not None
    assert shoe.title == "Red shoe" and shoe.price == 59.9 and shoe.category == "Shoes > Red"
    assert shoe.attributes == {"colour": "red"}
    mug = store.get_item("default", "C3")
    assert mug is not None and mug.price is None and mug.attributes == {}


def test_reingest_is_idempotent(store: SQLiteStore, tmp_path: Path) -> None:
    items = _write_csv(tmp_path / "items.csv", ITEMS)
    events = _write_jsonl(tmp_path / "events.jsonl", _events(5))
    ingest_file(store, items, mapping=MAPPING)
    ingest_file(store, events)
    again = ingest_file(store, items, mapping=MAPPING)
    assert (again.inserted, again.updated, again.unchanged, again.stored) == (0, 0, 3, 0)
    twice = ingest_file(store, events)
    assert (twice.stored, twice.duplicates) == (0, 5)
    assert store.count_items() == 3 and store.count_events() == 5
    changed = [dict(ITEMS[0], price="49.90"), *ITEMS[1:]]
    update = ingest_file(store, _write_csv(tmp_path / "v2.csv", changed), mapping=MAPPING)
    assert (update.updated, update.unchanged) == (1, 2)


def test_jsonl_gz_events_with_iso_times_and_ignored_columns(
    store: SQLiteStore, tmp_path: Path
) -> None:
    rows = [
        {
            "visitor": "u1",
            "item_id": "i1",
            "type": "add_to_cart",
            "timestamp": "2023-11-14T22:13:20Z",
            "referrer": "mail",
        },
        {"visitor": "u1", "type": "search", "query": "red shoe", "timestamp": 1700000001},
    ]
    path = _write_jsonl(tmp_path / "events.jsonl.gz", rows)
    report = ingest_file(store, path, mapping={"visitor": "user_id"}, platform="shop")
    assert report.kind == "events"
    assert (report.stored, report.rejected) == (2, 0)
    assert report.ignored_columns == ["referrer"]
    events = store.user_events("shop", "u1")
    assert [e.type for e in events] == [EventType.ADD_TO_CART, EventType.SEARCH]
    assert events[0].timestamp == 1700000000.0
    assert events[1].query == "red shoe"


def test_parquet_items_and_events(store: SQLiteStore, tmp_path: Path) -> None:
    items = tmp_path / "items.parquet"
    pq.write_table(
        pa.table(
            {
                "item_id": [1, 2],
                "title": ["Tea", "Cup"],
                "category": [["Food", "Tea"], []],
                "price": [3.5, None],
            }
        ),
        items,
    )
    events = tmp_path / "events.parquet"
    stamp = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    pq.write_table(
        pa.table({"user_id": ["u", "u"], "item_id": ["1", "2"], "timestamp": [stamp, stamp]}),
        events,
    )
    assert ingest_file(store, items).inserted == 2
    tea = store.get_item("default", "1")
    assert tea is not None and tea.category == "Food > Tea" and tea.price == 3.5
    report = ingest_file(store, events)
    assert report.kind == "events" and report.stored == 2
    assert store.event_columns("default").timestamps.tolist() == [1700000000.0] * 2


def test_bad_rows_are_rejected_and_good_rows_stored(store: SQLiteStore, tmp_path: Path) -> None:
    rows = [
        {"item_id": "1", "title": "Good", "price": "1"},
        {"item_id": "2", "title": "Negative", "price": "-5"},
        {"item_id": "3", "title": "", "price": "abc"},
        {"item_id": "4", "title": "Also good", "price": ""},
    ]
    path = _write_csv(tmp_path / "items.csv", rows)
    report = ingest_file(store, path)
    assert (report.rows_read, report.stored, report.rejected) == (4, 2, 2)
    assert store.item_ids("default") == ["1", "4"]
    assert report.errors[0] == "row 2, field 'price': Input should be greater than or equal to 0"
    assert report.rejects_path == str(tmp_path / "items.csv.rejects.jsonl")
    lines = [json.loads(line) for line in Path(report.rejects_path).read_text().splitlines()]
    assert [line["row"] for line in lines] == [2, 3]
    assert lines[0]["file"] == str(path)
    assert lines[0]["field"] == "price"
    assert lines[0]["record"] == rows[1]
    assert lines[1]["field"] == "title,price"
    assert "field 'title': Field required" in lines[1]["reason"]
    assert "unable to parse string as a number" in lines[1]["reason"]


def test_rejects_path_can_be_chosen(store: SQLiteStore, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"user_id": "u", "item_id": "i", "timestamp": 1}\nnot json\n')
    target = tmp_path / "out" / "bad.jsonl"
    report = ingest_file(store, path, kind="events", rejects_path=target)
    assert report.rejects_path == str(target)
    line = json.loads(target.read_text())
    assert line["row"] == 2 and line["field"] == "(row)"
    assert line["reason"].startswith("field '(row)': invalid JSON")
    assert report.stored == 1


def test_batches_and_progress_callback(store: SQLiteStore, tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "events.jsonl", _events(5))
    seen: list[int] = []
    report = ingest_file(store, path, batch_size=2, show_progress=True, on_batch=seen.append)
    assert seen == [2, 4, 5]
    assert report.batches == 3 and report.stored == 5


def test_failed_batch_is_rolled_back_and_earlier_batches_kept(
    store: SQLiteStore, tmp_path: Path, monkeypatch
) -> None:
    path = _write_jsonl(tmp_path / "events.jsonl", _events(6))
    real_append = store.append_events
    calls = {"n": 0}

    def append_then_fail(events):
        calls["n"] += 1
        result = real_append(events)  # rows really are inserted inside the transaction...
        if calls["n"] == 2:
            assert store.count_events() == 4  # ...visible here before the failure
            raise RuntimeError("disk on fire")
        return result

    monkeypatch.setattr(store, "append_events", append_then_fail)
    with pytest.raises(IngestError, match=r"batch 2 \(rows 3-4") as caught:
        ingest_file(store, path, batch_size=2)
    assert store.count_events() == 2
    report = caught.value.report
    assert isinstance(report, IngestReport)
    assert report.stored == 2 and report.error is not None and "disk on fire" in report.error
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_failed_item_batch_leaves_store_as_before(
    store: SQLiteStore, tmp_path: Path, monkeypatch
) -> None:
    ingest_file(store, _write_csv(tmp_path / "v1.csv", ITEMS), mapping=MAPPING)
    before = {item.item_id: item for item in store.iter_items()}
    changed = [dict(row, name=row["name"] + " v2") for row in ITEMS]
    changed.append({"sku": "D4", "name": "New", "category": "", "price": "1", "colour": ""})
    real_upsert = store.upsert_items

    def upsert_then_fail(items):
        real_upsert(items)
        raise OSError("lost connection")

    monkeypatch.setattr(store, "upsert_items", upsert_then_fail)
    with pytest.raises(IngestError, match="rolled back"):
        ingest_file(store, _write_csv(tmp_path / "v2.csv", changed), mapping=MAPPING)
    assert {item.item_id: item for item in store.iter_items()} == before


def test_auto_kind_unclear_is_an_error(store: SQLiteStore, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "x.csv", [{"sku": "1", "name": "a"}])
    with pytest.raises(IngestError, match="cannot tell items from events"):
        ingest_file(store, path)
    assert ingest_file(store, path, mapping=MAPPING).kind == "items"


def test_ingest_records(store: SQLiteStore) -> None:
    records = [
        {"user_id": "u", "item_id": "i", "type": "purchase", "timestamp": 5},
        {"user_id": "u", "item_id": "i", "type": "refund", "timestamp": 6},
        "not a record",
    ]
    report = ingest_records(store, records, kind="auto", platform="p")  # type: ignore[list-item]
    assert report.kind == "events" and report.file == "<records>"
    assert (report.stored, report.rejected, report.rejects_path) == (1, 2, None)
    assert report.errors[0].startswith("row 2, field 'type'")
    assert store.count_events("p") == 1
    items = ingest_records(store, iter([{"item_id": "i", "title": "T"}]), kind="items")
    assert items.inserted == 1
    empty = ingest_records(store, [], kind="items")
    assert empty.rows_read == 0


def test_report_is_json_and_summarises(store: SQLiteStore, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "items.csv", ITEMS)
    report = ingest_file(store, path, mapping=MAPPING)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["inserted"] == 3 and data["kind"] == "items"
    assert "3 rows read, 3 stored (3 new, 0 updated), 0 unchanged, 0 rejected" in report.summary()


def test_rejects_go_to_cwd_when_input_folder_is_read_only(
    store: SQLiteStore, tmp_path: Path, monkeypatch
) -> None:
    data = tmp_path / "readonly"
    data.mkdir()
    path = _write_csv(data / "items.csv", [{"item_id": "1", "title": ""}])
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr("shoplm.ingest.load.os.access", lambda p, mode: Path(p) != data)
    report = ingest_file(store, path)
    assert report.rejects_path == str(work / "items.csv.rejects.jsonl")
    assert json.loads(Path(report.rejects_path).read_text())["field"] == "title"


def test_unreadable_file_mid_way_keeps_committed_batches(
    store: SQLiteStore, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    good = "".join(f"u,i{i},view,{i}\n" for i in range(3000))  # text is decoded in chunks
    path.write_bytes(b"user_id,item_id,type,timestamp\n" + good.encode() + b"u,\xff,view,9\n")
    with pytest.raises(IngestError, match="cannot read past row") as caught:
        ingest_file(store, path, batch_size=1000)
    stored = store.count_events()
    assert 0 < stored < 3000 and stored % 1000 == 0
    report = caught.value.report
    assert report is not None and report.stored == stored and report.error is not None
