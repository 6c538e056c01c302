"""Amazon review-derived sequential recommendation sets: Office, Games and the S3-Rec trio.

All three ship ordered sequences without times, so they load as leave-one-out benchmarks
with synthetic timestamps (see ``RecDataset.events``); each interaction is a purchase.
"""

from __future__ import annotations

import html
from pathlib import Path

from shoplm.datasets._io import (
    DatasetFormatError,
    build_item,
    id_list,
    id_sort_key,
    read_csv,
    read_jsonl,
    require,
    to_id,
)
from shoplm.datasets.types import RecDataset
from shoplm.schema import Item

S3REC_SEQUENCES = ".sequences.jsonl"
S3REC_ATTRIBUTES = ".item_attributes.jsonl"


def read_sequences(path: Path, known_items: set[str] | None = None) -> dict[str, list[str]]:
    """``{user_id, item_ids}`` lines -> user_id -> item ids, in file order."""
    sequences: dict[str, list[str]] = {}
    for line, record in read_jsonl(path, ("user_id", "item_ids")):
        user_id = to_id(record["user_id"], path, line, "user_id")
        if user_id in sequences:
            raise DatasetFormatError(f"{path}: line {line}: user {user_id!r} appears twice")
        items = id_list(record["item_ids"], path, line, "item_ids")
        if known_items is not None:
            unknown = [i for i in items if i not in known_items]
            if unknown:
                raise DatasetFormatError(
                    f"{path}: line {line}: item_ids not in the catalog: {unknown[:5]}"
                )
        sequences[user_id] = items
    return sequences


def _office_title(item_id: str, title: str, brand: str, categories: list[str], desc: str) -> str:
    """A few source items have no title: fall back to brand + leaf category, or the text."""
    if title.strip():
        return title
    fallback = " ".join(p for p in (brand, categories[-1] if categories else "") if p).strip()
    if fallback:
        return fallback
    return desc[:80] if desc.strip() else f"item {item_id}"


def load_office(folder: Path) -> RecDataset:
    """Amazon Office (2014, 5-core): title, description, brand and category path per item.

    HTML entities in the texts (``AT&amp;T``) are decoded; categories are split on ", ".
    """
    path = require(folder, "items.jsonl")
    items: list[Item] = []
    for line, record in read_jsonl(path, ("item_id", "title")):
        item_id = to_id(record["item_id"], path, line, "item_id")
        title = html.unescape(str(record.get("title") or ""))
        description = html.unescape(str(record.get("description") or ""))
        brand = html.unescape(str(record.get("brand") or ""))
        raw_categories = str(record.get("categories") or "")
        categories = [c.strip() for c in raw_categories.split(", ") if c.strip()]
        items.append(
            build_item(
                path,
                line,
                item_id=item_id,
                title=_office_title(item_id, title, brand, categories, description),
                description=description,
                brand=brand,
                category=categories,
            )
        )
    known = {item.item_id for item in items}
    sequences = read_sequences(require(folder, "sequences.jsonl"), known)
    return RecDataset(name="amazon_office", items=items, sequences=sequences)


def load_games(folder: Path) -> RecDataset:
    """Amazon Video Games (2018, UniSRec pipeline): titles only, last 50 items per user."""
    path = require(folder, "items.csv")
    items = [
        build_item(
            path,
            line,
            item_id=to_id(row["item_id"], path, line, "item_id"),
            title=html.unescape(row["title"]),
        )
        for line, row in read_csv(path, ("item_id", "title"))
    ]
    known = {item.item_id for item in items}
    sequences = read_sequences(require(folder, "sequences.jsonl"), known)
    return RecDataset(name="amazon_games", items=items, sequences=sequences)


def s3rec_subsets(folder: Path) -> list[str]:
    """Categories that have both a sequences and an item-attributes file."""
    names: set[str] = set()
    for path in folder.iterdir():
        name = path.name.removesuffix(".gz")
        if name.endswith(S3REC_SEQUENCES):
            category = name.removesuffix(S3REC_SEQUENCES)
            attributes = folder / f"{category}{S3REC_ATTRIBUTES}"
            if attributes.is_file() or attributes.with_name(attributes.name + ".gz").is_file():
                names.add(category)
    return sorted(names)


def load_s3rec(folder: Path, subset: str) -> RecDataset:
    """One S3-Rec category: id-only items whose attribute ids are kept as an attribute.

    The schema needs a title, so each item gets the neutral ``"item <id>"``; the category and
    brand ids are in ``attributes["attribute_ids"]`` (space-separated).
    """
    path = require(folder, f"{subset}{S3REC_ATTRIBUTES}")
    attributes: dict[str, str] = {}
    for line, record in read_jsonl(path, ("item_id", "attribute_ids")):
        item_id = to_id(record["item_id"], path, line, "item_id")
        attributes[item_id] = " ".join(
            id_list(record["attribute_ids"], path, line, "attribute_ids")
        )
    sequences = read_sequences(require(folder, f"{subset}{S3REC_SEQUENCES}"))
    # Items that appear only in sequences still belong to the catalog (with no attributes).
    for items in sequences.values():
        for item_id in items:
            attributes.setdefault(item_id, "")
    catalog = [
        Item(
            item_id=item_id,
            title=f"item {item_id}",
            attributes={"attribute_ids": attrs} if attrs else {},
        )
        for item_id, attrs in sorted(attributes.items(), key=lambda kv: id_sort_key(kv[0]))
    ]
    return RecDataset(name=f"amazon_s3rec/{subset}", items=catalog, sequences=sequences)
