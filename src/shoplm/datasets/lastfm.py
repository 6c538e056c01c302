"""HetRec 2011 Last.fm-2k: users' top artists with play counts, plus a Freebase KG.

There are no listening times, so each user's sequence keeps the source's order (mostly by
play count, highest first), interactions become view events with ``value`` = plays, and
the timestamps are synthetic. Treat it as an unordered CF set: "leave_one_out" (the only
protocol without times) then holds out each user's last artist for test and the one
before it for validation.

User tags and held-out pairs: in this copy a tag exists only as part of a (user, artist)
pair ("the tags that user gave that artist"), so a tag on a held-out pair tells a model
that the test user met that artist, and links it to the user's other artists tagged alike.
Artist tags are therefore built only from pairs that stay in training under
leave-one-out: the last ``HELD_OUT_PAIRS`` pairs of every user long enough to be held out
(``LOO_MIN_LENGTH`` items, as in ``shoplm.evaluation.splits.leave_one_out``) lend no tags.
Tags are not independent of the pairs here (HetRec's separate tag-assignment file, which
includes tags of artists a user never played, is not in this copy), so they cannot be kept
on the grounds of independence.
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
HELD_OUT_PAIRS = 2  # leave-one-out holds out each user's last two items (test, validation)
LOO_MIN_LENGTH = 3  # users with fewer items are never held out


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
    pair_tags: dict[str, list[list[str]]] = {}  # user -> per pair, in sequence order
    for line, row in read_csv(path, ("user_id", "artist_id", "play_count")):
        user_id = to_id(row["user_id"], path, line, "user_id")
        artist_id = to_id(row["artist_id"], path, line, "artist_id")
        if artist_id not in known:
            raise DatasetFormatError(f"{path}: line {line}: artist_id {artist_id!r} not in artists")
        sequences.setdefault(user_id, []).append(artist_id)
        values.setdefault(user_id, []).append(to_float(row["play_count"], path, line, "play_count"))
        user_tags = [t.strip() for t in (row.get("tags") or "").split(",") if t.strip()]
        pair_tags.setdefault(user_id, []).append(user_tags)
    tags = training_tags(sequences, pair_tags)

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


def training_tags(
    sequences: dict[str, list[str]], pair_tags: dict[str, list[list[str]]]
) -> dict[str, Counter[str]]:
    """Artist -> tag counts from the pairs leave-one-out keeps for training (see above)."""
    tags: dict[str, Counter[str]] = {}
    for user_id, artists in sequences.items():
        kept = len(artists) - HELD_OUT_PAIRS if len(artists) >= LOO_MIN_LENGTH else len(artists)
        for artist_id, user_tags in zip(artists[:kept], pair_tags[user_id][:kept], strict=True):
            if user_tags:
                tags.setdefault(artist_id, Counter()).update(user_tags)
    return tags
