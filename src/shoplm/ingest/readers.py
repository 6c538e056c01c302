"""Stream rows out of CSV, TSV, JSONL and Parquet files, gzip'd or not.

Rows come one at a time (Parquet: decoded one record batch at a time) so a catalog larger
than memory still loads, and each row carries its number in the file so a bad one can be
named.  A row that cannot even be parsed is yielded with an ``error`` instead of stopping
the whole file.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from shoplm.ingest.report import IngestError

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
PARQUET_BATCH_ROWS = 10_000


@dataclass
class RawRow:
    """One source row: its 1-based number (JSONL: line number), its values, or a parse error."""

    number: int
    record: dict[str, Any]
    error: str | None = None


class RowStream:
    """Open rows of one file: ``columns`` as far as known up front, ``total`` if cheap."""

    def __init__(
        self,
        columns: list[str],
        rows: Iterator[RawRow],
        close: Callable[[], None],
        total: int | None = None,
    ) -> None:
        self.columns = columns
        self.total = total
        self._rows = rows
        self._close = close

    def __iter__(self) -> Iterator[RawRow]:
        return self._rows

    def __enter__(self) -> RowStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()


def detect_format(path: Path) -> tuple[str, bool]:
    """(format, gzip'd) from the file name; an unknown name is an error naming the file."""
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    if compressed:
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None or (compressed and fmt == "parquet"):
        raise IngestError(
            f"{path}: unknown file type; expected .csv, .tsv, .jsonl, .ndjson or .parquet "
            "(the text formats may also end in .gz)"
        )
    return fmt, compressed


def open_rows(path: Path) -> RowStream:
    """Open ``path`` for streaming; use as a context manager so the file is closed."""
    fmt, compressed = detect_format(path)
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    if fmt == "parquet":
        return _parquet(path)
    handle = _open_text(path, compressed)
    try:
        return _csv(path, handle, fmt) if fmt in ("csv", "tsv") else _jsonl(path, handle)
    except BaseException:
        handle.close()
        raise


def _open_text(path: Path, compressed: bool) -> IO[str]:
    # utf-8-sig drops the byte-order mark spreadsheet programs like to write.
    if compressed:
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _read_failure(path: Path, row: int, exc: Exception) -> IngestError:
    return IngestError(f"{path}: cannot read past row {row}: {exc}")


def _csv(path: Path, handle: IO[str], fmt: str) -> RowStream:
    reader = csv.DictReader(handle, delimiter="\t" if fmt == "tsv" else ",")
    try:
        header = reader.fieldnames or []
    except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
        raise _read_failure(path, 0, exc) from exc
    columns = [name.strip() for name in header]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise IngestError(f"{path}: the header repeats column(s) {repeated}")
    reader.fieldnames = columns

    def rows() -> Iterator[RawRow]:
        number = 0
        try:
            for number, record in enumerate(reader, 1):
                extra = record.pop(None, None)  # type: ignore[call-overload]
                error = None
                if extra:
                    error = (
                        f"row has {len(extra)} more value(s) than the header's "
                        f"{len(columns)} columns"
                    )
                yield RawRow(number, record, error)
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
            raise _read_failure(path, number, exc) from exc

    return RowStream(columns, rows(), handle.close)


def _jsonl(path: Path, handle: IO[str]) -> RowStream:
    def rows() -> Iterator[RawRow]:
        number = 0
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    raw = {"line": line.rstrip("\r\n")[:1000]}
                    yield RawRow(number, raw, f"invalid JSON: {exc.msg} at column {exc.colno}")
                    continue
                if isinstance(value, dict):
                    yield RawRow(number, value)
                else:
                    error = f"expected a JSON object, got {type(value).__name__}"
                    yield RawRow(number, {"value": value}, error)
        except (UnicodeDecodeError, OSError, EOFError) as exc:
            raise _read_failure(path, number, exc) from exc

    # JSONL has no header: the first object's keys stand in for the columns.
    stream = rows()
    buffered: list[RawRow] = []
    columns: list[str] = []
    for row in stream:
        buffered.append(row)
        if row.error is None:
            columns = list(row.record)
            break

    def replay() -> Iterator[RawRow]:
        yield from buffered
        yield from stream

    return RowStream(columns, replay(), handle.close)


def _parquet(path: Path) -> RowStream:
    try:
        source = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(f"{path}: not a readable Parquet file: {exc}") from exc

    def rows() -> Iterator[RawRow]:
        number = 0
        try:
            for batch in source.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                for record in batch.to_pylist():
                    number += 1
                    yield RawRow(number, record)
        except (pa.ArrowException, OSError) as exc:
            raise _read_failure(path, number, exc) from exc

    return RowStream(
        list(source.schema_arrow.names), rows(), source.close, source.metadata.num_rows
    )
