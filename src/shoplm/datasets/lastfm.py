"""HetRec 2011 Last.fm-2k: users' top artists with play counts, plus a Freebase KG.

There are no listening times, so each user's sequence keeps the source's order (by play
count, highest first), interactions become view events with ``value`` = plays, and the
timestamps are synthetic. Treat it as an unordered CF set: "leave_one_out" then holds out
the least-played artist.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from shoplm.datasets._io import (
    DatasetFormatError,
    build_item,
    read_csv,
    read_kg,
    require,
    to_float,
    to_id,
)
from shoplm.datasets.types import RecDataset
from shoplm.schema import EventType

TOP_TAGS = 10  # user tags kept per artist, most frequent first


def load_lastfm(folder: Path) -> RecDataset:
    """Artists are items (title = name; url and the top user tags in ``attributes``)."""
    artists_path = require(folder, "artists.csv")
    artists = [
        (line, to_id(row["artist_id"], artists_path, line, "artist_id"), row)
        for line, row in read_csv(artists_path, ("artist_id", "name"))
    ]
    known = {artist_id for _, artist_id, _ in artists}

    path = require(folder, "user_artist_plays.csv")
    sequences: dict[str, list[str]] = {}
    values: dict[str, list[float]] = {}
    tags: dict[str, Counter[str]] = {}
    for line, row in read_csv(path, ("user_id", "artist_id", "play_count")):
        user_id = to_id(row["user_id"], path, line, "user_id")
        artist_id = to_id(row["artist_id"], path, line, "artist_id")
        if artist_id not in known:
            raise DatasetFormatError(f"{path}: line {line}: artist_id {artist_id!r} not in artists")
        sequences.setdefault(user_id, []).append(artist_id)
        values.setdefault(user_id, []).append(to_float(row["play_count"], path, line, "play_count"))
        user_tags = [t.strip() for t in (row.get("tags") or "").split(",") if t.strip()]
        if user_tags:
            tags.setdefault(artist_id, Counter()).update(user_tags)

    items = []
    for line, artist_id, row in artists:
        top = sorted(tags.get(artist_id, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))
        attributes = {"url": row.get("url") or "", "tags": ", ".join(t for t, _ in top[:TOP_TAGS])}
        items.append(
            build_item(
                artists_path, line, item_id=artist_id, title=row["name"], attributes=attributes
            )
        )
    return RecDataset(
        name="lastfm_hetrec",
        items=items,
        sequences=sequences,
        values=values,
        kg=read_kg(folder, "artist_entity_link.csv", "artist_id"),
        event_type=EventType.VIEW,
    )
