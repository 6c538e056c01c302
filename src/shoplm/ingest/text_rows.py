"""A file's text columns read as one text per row: what task heads and pretraining learn from.

Several columns (a review's title and body) are joined as sentences; a missing column is an
error naming the row, an empty cell is no text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoplm.ingest.readers import open_rows
from shoplm.ingest.report import IngestError
from shoplm.ingest.validate import present
from shoplm.text.sentences import join_sentences


def row_text(
    record: Mapping[str, Any],
    columns: Sequence[str],
    where: str,
    extra: Sequence[str] = (),
    error: type[Exception] = IngestError,
) -> str:
    """The row's text columns joined ("" when all are empty); ``where`` names the row in the
    ``error`` a missing column (of ``columns`` or ``extra``) raises."""
    for column in (*columns, *extra):
        if column not in record:
            raise error(f"{where} has no column {column!r} (it has {sorted(record)})")
    return join_sentences(str(record[c]) for c in columns if present(record[c]) is not None)


@dataclass
class TextFile:
    """A file's non-empty texts, the file row number of each, and the rows without text."""

    texts: list[str]
    row_numbers: list[int]
    skipped: list[int]


def read_texts(path: Path, columns: Sequence[str]) -> TextFile:
    """Every row's text (CSV, TSV, JSON lines or Parquet, gzip'd or not); rows without any
    text are skipped, a row that cannot be read is an error naming it."""
    if isinstance(columns, str):
        columns = [columns]
    if not columns:
        raise IngestError("name at least one text column")
    out = TextFile([], [], [])
    with open_rows(Path(path)) as rows:
        for raw in rows:
            if raw.error:
                raise IngestError(f"{path}: row {raw.number}: {raw.error}")
            text = row_text(raw.record, columns, f"{path}: row {raw.number}")
            if text:
                out.texts.append(text)
                out.row_numbers.append(raw.number)
            else:
                out.skipped.append(raw.number)
    return out


__all__ = ["TextFile", "read_texts", "row_text"]
