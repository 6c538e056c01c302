"""Last.fm HetRec: artists as items, play counts as values, user tags, KG links."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from shoplm.datasets import SYNTHETIC_TIME_BASE, DatasetFormatError
from shoplm.datasets.lastfm import load_lastfm
from shoplm.schema import EventType


def test_users_artists_and_play_counts(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_lastfm(fakes.make_lastfm(tmp_path / "fm"))
    assert data.name == "lastfm_hetrec"
    assert data.sequences == {"2": ["51", "52"], "3": ["52"]}
    assert data.values == {"2": [13883.0, 11690.0], "3": [500.0]}
    assert data.timestamps is None and not data.has_real_time


def test_artist_items_carry_url_and_top_tags(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_lastfm(fakes.make_lastfm(tmp_path / "fm"))
    duran, morcheeba = data.items
    assert duran.title == "Duran Duran"
    assert duran.attributes == {"url": "http://www.last.fm/music/Duran+Duran"}
    # most used first, ties alphabetical
    assert morcheeba.attributes["tags"] == "chillout, downtempo, electronic, trip-hop"


def test_kg_links_artists(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_lastfm(fakes.make_lastfm(tmp_path / "fm"))
    assert data.kg is not None
    assert data.kg.triples == [("0", "music.artist.origin", "3846")]
    assert data.kg.item_entity == {"52": "0"}


def test_events_are_views_with_plays_and_synthetic_times(tmp_path: Path, fakes: ModuleType) -> None:
    events = list(load_lastfm(fakes.make_lastfm(tmp_path / "fm")).events())
    assert [e.type for e in events] == [EventType.VIEW] * 3
    assert [e.value for e in events] == [13883.0, 11690.0, 500.0]
    assert [e.timestamp for e in events] == [
        SYNTHETIC_TIME_BASE,
        SYNTHETIC_TIME_BASE + 1,
        SYNTHETIC_TIME_BASE,
    ]


def test_plays_of_unknown_artist_name_the_line(tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.make_lastfm(tmp_path / "fm")
    fakes.write_csv(
        folder / "user_artist_plays.csv.gz",
        ["user_id", "artist_id", "play_count", "tags"],
        [[2, 999, 5, ""]],
    )
    with pytest.raises(DatasetFormatError, match="line 2: artist_id '999' not in artists"):
        load_lastfm(folder)
