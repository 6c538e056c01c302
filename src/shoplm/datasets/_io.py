"""Reading the source files: gzip'd or plain CSV / JSON Lines, with errors that name the line.

Every adapter reads through these helpers so a malformed file fails the same way: the
file, the line and the field that was wrong.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from shoplm.datasets.types import KnowledgeGraph
from shoplm.schema import Item


class DatasetFormatError(ValueError):
    """A dataset file is missing, or a row in it does not have the expected shape."""


def locate(folder: Path, name: str) -> Path | None:
    """``name`` inside ``folder``, gzip'd (``name.gz``) or plain; None when neither exists."""
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def require(folder: Path, name: str) -> Path:
    path = locate(folder, name)
    if path is None:
        raise DatasetFormatError(f"{folder}: missing file {name}.gz (or {name})")
    return path


def open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def csv_header(path: Path) -> list[str]:
    with open_text(path) as handle:
        return next(csv.reader(handle), [])


def read_csv(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) after checking the header has every required column."""
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [column for column in required if column not in header]
        if missing:
            raise DatasetFormatError(
                f"{path}: missing column(s) {', '.join(missing)} (header has: {', '.join(header)})"
            )
        for row in reader:
            yield reader.line_num, row


def read_jsonl(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line, checking required keys."""
    with open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetFormatError(f"{path}: line {line_no}: invalid JSON ({exc})") from exc
            if not isinstance(record, dict):
                raise DatasetFormatError(f"{path}: line {line_no}: expected a JSON object")
            for key in required:
                if key not in record:
                    raise DatasetFormatError(f"{path}: line {line_no}: missing field {key!r}")
            yield line_no, record


def to_float(value: Any, path: Path, line: int, field: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DatasetFormatError(
            f"{path}: line {line}: field {field!r} must be a number, got {value!r}"
        ) from None


def to_id(value: Any, path: Path, line: int, field: str) -> str:
    """A non-empty id as text (sources mix integer and string ids)."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise DatasetFormatError(f"{path}: line {line}: field {field!r} is empty")
    return text


def id_list(value: Any, path: Path, line: int, field: str) -> list[str]:
    if not isinstance(value, list):
        raise DatasetFormatError(f"{path}: line {line}: field {field!r} must be a list")
    return [to_id(v, path, line, field) for v in value]


def build_item(path: Path, line: int, **fields: Any) -> Item:
    """An Item from source fields, texts cut to the schema's limits; errors name the line."""
    for name, limit in _TEXT_LIMITS.items():
        value = fields.get(name)
        if isinstance(value, str) and len(value) > limit:
            fields[name] = value[:limit]
    try:
        return Item(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise DatasetFormatError(f"{path}: line {line}: invalid item ({problems})") from None


_TEXT_LIMITS = {
    name: next(m.max_length for m in Item.model_fields[name].metadata if hasattr(m, "max_length"))
    for name in ("title", "description", "brand", "category")
}


def id_sort_key(value: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then any others in text order."""
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def read_kg(folder: Path, link_file: str, item_column: str) -> KnowledgeGraph:
    """RecBole-style KG: ``kg_triples.csv`` plus an item -> entity link file."""
    path = require(folder, "kg_triples.csv")
    triples = [
        (
            to_id(row["head_entity"], path, line, "head_entity"),
            to_id(row["relation"], path, line, "relation"),
            to_id(row["tail_entity"], path, line, "tail_entity"),
        )
        for line, row in read_csv(path, ("head_entity", "relation", "tail_entity"))
    ]
    link = require(folder, link_file)
    item_entity = {
        to_id(row[item_column], link, line, item_column): to_id(
            row["entity_id"], link, line, "entity_id"
        )
        for line, row in read_csv(link, (item_column, "entity_id"))
    }
    return KnowledgeGraph(triples=triples, item_entity=item_entity)
