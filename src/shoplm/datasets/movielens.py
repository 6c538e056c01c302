"""MovieLens 100K with RecBole's Freebase knowledge graph: the one set with real times.

Ratings become rating events carrying the star value; sequences are in time order, so the
suggested protocol is a temporal split.
"""

from __future__ import annotations

from pathlib import Path

from shoplm.datasets._io import (
    DatasetFormatError,
    build_item,
    id_sort_key,
    read_csv,
    read_kg,
    require,
    to_float,
    to_id,
)
from shoplm.datasets.types import RecDataset
from shoplm.schema import EventType, Item


def _movie_items(path: Path) -> list[Item]:
    """Category = first genre; all genres and the year go to attributes and description."""
    items = []
    for line, row in read_csv(path, ("item_id", "title", "release_year", "genres")):
        genres = [g for g in row["genres"].split() if g != "unknown"]
        year = row["release_year"].strip()
        facts = []
        if year:
            facts.append(f"Released {year}.")
        if genres:
            facts.append(f"Genres: {', '.join(genres)}.")
        attributes = {"release_year": year, "genres": " ".join(genres)}
        items.append(
            build_item(
                path,
                line,
                item_id=to_id(row["item_id"], path, line, "item_id"),
                title=row["title"],
                description=" ".join(facts),
                category=genres[:1],
                attributes=attributes,
            )
        )
    return items


def load_movielens(folder: Path) -> RecDataset:
    items = _movie_items(require(folder, "movies.csv"))
    known = {item.item_id for item in items}
    path = require(folder, "ratings.csv")
    rows: dict[str, list[tuple[float, int, str, float]]] = {}
    for line, row in read_csv(path, ("user_id", "item_id", "rating", "timestamp")):
        item_id = to_id(row["item_id"], path, line, "item_id")
        if item_id not in known:
            raise DatasetFormatError(f"{path}: line {line}: item_id {item_id!r} not in movies")
        rows.setdefault(to_id(row["user_id"], path, line, "user_id"), []).append(
            (
                to_float(row["timestamp"], path, line, "timestamp"),
                line,  # ties in time keep file order
                item_id,
                to_float(row["rating"], path, line, "rating"),
            )
        )
    sequences: dict[str, list[str]] = {}
    timestamps: dict[str, list[float]] = {}
    values: dict[str, list[float]] = {}
    for user_id in sorted(rows, key=id_sort_key):
        ordered = sorted(rows[user_id])
        sequences[user_id] = [r[2] for r in ordered]
        timestamps[user_id] = [r[0] for r in ordered]
        values[user_id] = [r[3] for r in ordered]
    return RecDataset(
        name="movielens_100k",
        items=items,
        sequences=sequences,
        timestamps=timestamps,
        values=values,
        has_real_time=True,
        protocol="temporal",
        kg=read_kg(folder, "item_entity_link.csv", "item_id"),
        event_type=EventType.RATING,
    )
