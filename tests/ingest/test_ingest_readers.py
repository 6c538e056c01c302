"""Readers: formats by name, gzip, row numbers, and rows that cannot be parsed."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shoplm.ingest import IngestError, readers
from shoplm.ingest.readers import detect_format, open_rows


def _read(path: Path) -> tuple[list[str], list[readers.RawRow]]:
    with open_rows(path) as stream:
        return stream.columns, list(stream)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", ("csv", False)),
        ("a.CSV.gz", ("csv", True)),
        ("shop.items.tsv", ("tsv", False)),
        ("a.jsonl.gz", ("jsonl", True)),
        ("a.ndjson", ("jsonl", False)),
        ("a.parquet", ("parquet", False)),
    ],
)
def test_detect_format_by_name(name: str, expected: tuple[str, bool]) -> None:
    assert detect_format(Path(name)) == expected


@pytest.mark.parametrize("name", ["items.xlsx", "items", "items.parquet.gz", "items.gz"])
def test_unknown_extension_names_the_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("x")
    with pytest.raises(IngestError, match=name.replace(".", r"\.")):
        open_rows(path)


def test_missing_file_is_an_ingest_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        open_rows(tmp_path / "nope.csv")


def test_csv_rows_are_numbered_and_bom_and_header_spaces_dropped(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("\ufeffitem_id , title\n1,Red shoe\n2,Blue hat,extra\n", encoding="utf-8")
    columns, rows = _read(path)
    assert columns == ["item_id", "title"]
    assert [r.number for r in rows] == [1, 2]
    assert rows[0].record == {"item_id": "1", "title": "Red shoe"}
    assert rows[0].error is None
    assert "1 more value(s)" in (rows[1].error or "")


def test_csv_repeated_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,title,title\n1,a,b\n")
    with pytest.raises(IngestError, match="repeats column"):
        open_rows(path)


def test_tsv_and_gzip_csv(tmp_path: Path) -> None:
    tsv = tmp_path / "items.tsv"
    tsv.write_text("item_id\ttitle\n1\tTea, green\n")
    assert _read(tsv)[1][0].record == {"item_id": "1", "title": "Tea, green"}
    gz = tmp_path / "items.csv.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as handle:
        handle.write("item_id,title\n7,Mug\n")
    assert _read(gz)[1][0].record == {"item_id": "7", "title": "Mug"}


def test_jsonl_line_numbers_bad_lines_and_gzip(tmp_path: Path) -> None:
    lines = ['{"item_id": 1, "title": "a"}', "", "{broken", "[1, 2]", '{"item_id": 2}']
    path = tmp_path / "items.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    columns, rows = _read(path)
    assert columns == ["item_id", "title"]
    assert [r.number for r in rows] == [1, 3, 4, 5]
    assert rows[1].error is not None and rows[1].error.startswith("invalid JSON")
    assert rows[1].record == {"line": "{broken"}
    assert rows[2].error == "expected a JSON object, got list"
    assert rows[3].record == {"item_id": 2} and rows[3].error is None


def test_jsonl_columns_come_from_first_good_object(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("nope\n" + json.dumps({"user_id": "u", "item_id": "i"}) + "\n")
    columns, rows = _read(path)
    assert columns == ["user_id", "item_id"]
    assert len(rows) == 2


def test_parquet_streams_by_record_batch(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(readers, "PARQUET_BATCH_ROWS", 2)
    path = tmp_path / "items.parquet"
    table = pa.table({"item_id": ["a", "b", "c", "d", "e"], "price": [1.0, None, 3.0, 4.0, 5.0]})
    pq.write_table(table, path, row_group_size=5)
    with open_rows(path) as stream:
        assert stream.total == 5
        assert stream.columns == ["item_id", "price"]
        rows = list(stream)
    assert [r.number for r in rows] == [1, 2, 3, 4, 5]
    assert rows[1].record == {"item_id": "b", "price": None}


def test_corrupt_parquet_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "items.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(IngestError, match="Parquet"):
        open_rows(path)
