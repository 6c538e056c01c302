"""MovieLens 100K: time-ordered ratings, movie items and the knowledge graph."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from shoplm.datasets import DatasetFormatError
from shoplm.datasets.movielens import load_movielens
from shoplm.schema import EventType


def test_sequences_sorted_by_time_with_ratings(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_movielens(fakes.make_movielens(tmp_path / "ml"))
    assert data.name == "movielens_100k"
    assert data.sequences == {"22": ["1"], "196": ["1", "2"]}
    assert data.timestamps == {"22": [878887116.0], "196": [881250000.0, 881250949.0]}
    assert data.values == {"22": [1.0], "196": [5.0, 3.0]}
    assert data.has_real_time
    assert data.protocol == "temporal"


def test_movie_items_have_genres(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_movielens(fakes.make_movielens(tmp_path / "ml"))
    toy = data.items[0]
    assert toy.title == "Toy Story"
    assert toy.category == "Animation"
    assert toy.attributes == {"release_year": "1995", "genres": "Animation Children's Comedy"}
    assert toy.description == "Released 1995. Genres: Animation, Children's, Comedy."


def test_knowledge_graph_is_loaded(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_movielens(fakes.make_movielens(tmp_path / "ml"))
    assert data.kg is not None
    assert data.kg.triples[0] == ("m.0dyb1", "film.film.actor", "m.0bn9d")
    assert data.kg.item_entity == {"1": "m.0dyb1"}


def test_events_are_ratings_at_real_times(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_movielens(fakes.make_movielens(tmp_path / "ml"))
    events = list(data.events(platform="movies"))
    assert len(events) == 3
    last = events[-1]
    assert (last.user_id, last.item_id, last.type, last.value) == (
        "196",
        "2",
        EventType.RATING,
        3.0,
    )
    assert last.timestamp == 881250949.0
    assert {e.platform for e in events} == {"movies"}


def test_rating_of_unknown_movie_names_the_line(tmp_path: Path, fakes: ModuleType) -> None:
    folder = fakes.make_movielens(tmp_path / "ml")
    fakes.write_csv(
        folder / "ratings.csv.gz",
        ["user_id", "item_id", "rating", "timestamp"],
        [[1, 1, 5, 10], [1, 7, 4, 11]],
    )
    with pytest.raises(DatasetFormatError, match="line 3: item_id '7' not in movies"):
        load_movielens(folder)
