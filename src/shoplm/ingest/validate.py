"""Turn one source row into an Item or Event, or into the list of what is wrong with it.

A column mapping renames source columns first.  Item columns that are not Item fields
become free attributes; event columns that are not Event fields are ignored (and
reported).  Timestamps may be epoch seconds or ISO 8601 dates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from shoplm.ingest.report import IngestError
from shoplm.schema import Event, Item

KINDS = ("items", "events")
ITEM_FIELDS = frozenset(Item.model_fields)
EVENT_FIELDS = frozenset(Event.model_fields)
ATTRIBUTE_PREFIX = "attributes."
TIME_FIELDS = ("timestamp", "created_at", "updated_at")

Problem = tuple[str, str]  # (field, message)


def check_mapping(mapping: Mapping[str, str] | None) -> dict[str, str]:
    """Refuse a mapping whose target is no shoplm field: a typo must not vanish silently."""
    mapping = dict(mapping or {})
    for source, target in mapping.items():
        is_attribute = target.startswith(ATTRIBUTE_PREFIX) and len(target) > len(ATTRIBUTE_PREFIX)
        if target not in ITEM_FIELDS | EVENT_FIELDS and not is_attribute:
            known = ", ".join(sorted(ITEM_FIELDS | EVENT_FIELDS))
            raise IngestError(
                f"mapping {source!r} -> {target!r}: {target!r} is not a shoplm field "
                f"(known: {known}; or 'attributes.<name>')"
            )
    targets = list(mapping.values())
    repeated = sorted({t for t in targets if targets.count(t) > 1})
    if repeated:
        raise IngestError(f"mapping sends several columns to {repeated}")
    return mapping


def rename(record: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """Apply the mapping; an unmapped column shadowed by a mapped one is dropped."""
    targets = set(mapping.values())
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = str(key).strip()
        if not name:
            continue  # e.g. a trailing comma in a CSV header
        if name in mapping:
            out[mapping[name]] = value
        elif name not in targets:
            out[name] = value
    return out


def resolve_kind(kind: str, columns: Iterable[str], source: str) -> str:
    """'auto' means events when there is a user_id column, items when there is an item column."""
    if kind in KINDS:
        return kind
    if kind != "auto":
        raise IngestError(f"kind must be 'items', 'events' or 'auto', not {kind!r}")
    names = set(columns)
    if "user_id" in names:
        return "events"
    if names & {"item_id", "title"}:
        return "items"
    raise IngestError(
        f"{source}: cannot tell items from events by the columns {sorted(names)}; "
        "pass kind='items' or kind='events' (or map a column to item_id / user_id)"
    )


def ignored_columns(kind: str, columns: Iterable[str]) -> set[str]:
    """Columns an event row does not use (item rows keep everything as attributes)."""
    return set() if kind == "items" else set(columns) - EVENT_FIELDS


def to_epoch(value: Any) -> float:
    """Epoch seconds from a number, a numeric string, a datetime or an ISO 8601 string."""
    if isinstance(value, bool):
        raise ValueError(f"expected epoch seconds or an ISO 8601 date, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"expected epoch seconds or an ISO 8601 date, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a zone-less time is read as UTC
    return moment.timestamp()


def present(value: Any) -> Any:
    """None for the many spellings of 'no value': None, blank text, NaN."""
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _attribute_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value if present(v) is not None)
    return value


def _item_fields(record: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    explicit = present(record.get("attributes"))
    if isinstance(explicit, str):
        try:
            explicit = json.loads(explicit)
        except json.JSONDecodeError:
            problems.append(("attributes", "expected a JSON object of name -> value"))
            explicit = None
    if explicit is not None:
        if isinstance(explicit, Mapping):
            attributes.update(explicit)
        else:
            problems.append(("attributes", "expected an object of name -> value"))
    for key, value in record.items():
        if key == "attributes":
            continue
        if key in ITEM_FIELDS:
            fields[key] = value
        else:
            name = key.removeprefix(ATTRIBUTE_PREFIX)
            if present(value) is not None:
                attributes[name] = _attribute_value(value)
    fields["attributes"] = {k: _attribute_value(v) for k, v in attributes.items()}
    return fields


def _messages(error: ValidationError) -> list[Problem]:
    problems = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"]) or "(row)"
        message = str(detail["msg"]).removeprefix("Value error, ")
        problems.append((field, message))
    return problems


def build(
    kind: str, record: Mapping[str, Any], mapping: Mapping[str, str], platform: str | None
) -> tuple[BaseModel | None, list[Problem]]:
    """The validated model for one row, or None and every problem found in it."""
    problems: list[Problem] = []
    renamed = rename(record, mapping)
    if kind == "items":
        fields = _item_fields(renamed, problems)
    else:
        fields = {k: v for k, v in renamed.items() if k in EVENT_FIELDS}
    fields = {k: v for k, v in fields.items() if present(v) is not None}
    if platform is not None:
        fields["platform"] = platform
    for name in TIME_FIELDS:
        if name in fields:
            try:
                fields[name] = to_epoch(fields[name])
            except ValueError as exc:
                problems.append((name, str(exc)))
                del fields[name]
    model_type: type[BaseModel] = Item if kind == "items" else Event
    try:
        model = model_type.model_validate(fields)
    except ValidationError as exc:
        # A field already reported (e.g. an unreadable timestamp) is not reported twice.
        seen = {field for field, _ in problems}
        problems.extend(p for p in _messages(exc) if p[0] not in seen)
        return None, problems
    if problems:
        return None, problems
    return model, []


def describe(row: int, problems: list[Problem]) -> str:
    """'row 17, field 'price': Input should be ...' for one or more problems."""
    return f"row {row}, " + "; ".join(f"field '{f}': {m}" for f, m in problems)
