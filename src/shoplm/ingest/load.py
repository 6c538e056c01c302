"""Validate rows and store them batch by batch, each batch in one store transaction.

A bad row never stops a load: it goes to the rejects file (one JSON line per row naming
every problem) and the good rows are stored.  A batch that fails to store is rolled back
whole, so the store holds exactly the batches committed before it.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel
from tqdm import tqdm

from shoplm.ingest.readers import RawRow, open_rows
from shoplm.ingest.report import MAX_REPORTED_ERRORS, IngestError, IngestReport
from shoplm.ingest.validate import (
    Problem,
    build,
    check_mapping,
    describe,
    ignored_columns,
    rename,
    resolve_kind,
)
from shoplm.store.base import Store

log = logging.getLogger(__name__)
RECORDS_SOURCE = "<records>"


def default_rejects_path(path: Path) -> Path:
    """``<input name>.rejects.jsonl`` beside the input, or in the cwd if that is read-only."""
    name = f"{path.name}.rejects.jsonl"
    parent = path.parent if path.parent != Path() else Path.cwd()
    return parent / name if os.access(parent, os.W_OK) else Path.cwd() / name


class _Rejects:
    """The rejects file, opened (and truncated) only when the first bad row arrives."""

    def __init__(self, path: Path | None, source: str) -> None:
        self.path = path
        self.source = source
        self._handle: IO[str] | None = None

    def write(self, row: int, record: Mapping[str, Any], problems: list[Problem]) -> None:
        if self.path is None:
            return
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        line = {
            "file": self.source,
            "row": row,
            "field": ",".join(dict.fromkeys(field for field, _ in problems)),
            "reason": "; ".join(f"field '{f}': {m}" for f, m in problems),
            "record": dict(record),
        }
        self._handle.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")

    @property
    def written(self) -> str | None:
        return str(self.path) if self._handle is not None else None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _load(
    store: Store,
    rows: Iterable[RawRow],
    report: IngestReport,
    mapping: Mapping[str, str],
    platform: str | None,
    rejects: _Rejects,
    batch_size: int,
    progress: tqdm,
    on_batch: Callable[[int], None] | None,
) -> IngestReport:
    started = time.perf_counter()
    batch: list[BaseModel] = []
    numbers: list[int] = []
    ignored: set[str] = set()

    def flush() -> None:
        report.batches += 1
        try:
            with store.transaction():
                if report.kind == "items":
                    upserted = store.upsert_items(batch)  # type: ignore[arg-type]
                else:
                    appended = store.append_events(batch)  # type: ignore[arg-type]
        except Exception as exc:
            report.error = (
                f"batch {report.batches} (rows {numbers[0]}-{numbers[-1]}, {len(batch)} rows) "
                f"failed and was rolled back; earlier batches are kept: {exc!r}"
            )
            raise IngestError(f"{report.file}: {report.error}", report) from exc
        if report.kind == "items":
            report.inserted += upserted.inserted
            report.updated += upserted.updated
            report.unchanged += upserted.unchanged
            report.stored += upserted.inserted + upserted.updated
        else:
            report.inserted += appended.added
            report.duplicates += appended.duplicates
            report.stored += appended.added
        batch.clear()
        numbers.clear()
        if on_batch is not None:
            on_batch(report.rows_read)

    try:
        for raw in rows:
            report.rows_read += 1
            progress.update()
            if raw.error is not None:
                model, problems = None, [("(row)", raw.error)]
            else:
                ignored |= ignored_columns(report.kind, rename(raw.record, mapping))
                model, problems = build(report.kind, raw.record, mapping, platform)
            if model is None:
                report.rejected += 1
                rejects.write(raw.number, raw.record, problems)
                if len(report.errors) < MAX_REPORTED_ERRORS:
                    report.errors.append(describe(raw.number, problems))
                continue
            batch.append(model)
            numbers.append(raw.number)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
    except IngestError as exc:
        report.error = report.error or str(exc)
        exc.report = exc.report or report
        raise
    finally:
        progress.close()
        rejects.close()
        report.rejects_path = rejects.written
        report.ignored_columns = sorted(ignored)
        report.seconds = round(time.perf_counter() - started, 3)
    if report.rejected:
        where = f"; see {report.rejects_path}" if report.rejects_path else ""
        log.warning("%s: %d rows rejected%s", report.file, report.rejected, where)
    return report


def ingest_file(
    store: Store,
    path: Path,
    kind: str = "auto",
    mapping: dict[str, str] | None = None,
    platform: str | None = None,
    rejects_path: Path | None = None,
    batch_size: int = 5000,
    show_progress: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> IngestReport:
    """Load a CSV/TSV/JSONL/Parquet file (text formats optionally .gz) of items or events.

    ``platform``, when given, overrides any platform column.  Bad rows are written to
    ``rejects_path`` (default: ``<file>.rejects.jsonl`` beside the file).
    """
    path = Path(path)
    checked = check_mapping(mapping)
    if batch_size < 1:
        raise IngestError(f"batch_size must be at least 1, not {batch_size}")
    with open_rows(path) as stream:
        columns = rename(dict.fromkeys(stream.columns), checked)
        resolved = resolve_kind(kind, columns, str(path))
        report = IngestReport(kind=resolved, file=str(path))
        rejects = _Rejects(Path(rejects_path or default_rejects_path(path)), str(path))
        progress = tqdm(
            total=stream.total,
            unit="rows",
            desc=f"ingest {path.name}",
            disable=not show_progress,
        )
        return _load(
            store, stream, report, checked, platform, rejects, batch_size, progress, on_batch
        )


def _records(records: Iterable[Any]) -> Iterator[RawRow]:
    for number, record in enumerate(records, 1):
        if isinstance(record, Mapping):
            yield RawRow(number, dict(record))
        else:
            error = f"expected an object of field -> value, got {type(record).__name__}"
            yield RawRow(number, {"value": record}, error)


def ingest_records(
    store: Store,
    records: Iterable[Mapping[str, Any]],
    kind: str,
    platform: str | None = None,
    show_progress: bool = False,
) -> IngestReport:
    """Like ``ingest_file`` for in-memory rows; bad rows are listed in ``report.errors``."""
    rows = _records(records)
    columns: Iterable[str] = ()
    if kind == "auto":
        first = next(rows, None)
        if first is not None:
            columns = rename(first.record, {}) if first.error is None else ()
            rows = itertools.chain([first], rows)
    report = IngestReport(kind=resolve_kind(kind, columns, RECORDS_SOURCE), file=RECORDS_SOURCE)
    progress = tqdm(unit="rows", desc="ingest records", disable=not show_progress)
    return _load(
        store, rows, report, {}, platform, _Rejects(None, RECORDS_SOURCE), 5000, progress, None
    )
