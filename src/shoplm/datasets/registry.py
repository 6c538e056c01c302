"""Which public dataset a folder holds, told from its files, and loading it.

Detection looks at file names and CSV headers only, never at the folder's name, so a copy
of any supported layout loads wherever it lives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shoplm.datasets import amazon, homedepot, lastfm, movielens, reviews, wands
from shoplm.datasets._io import DatasetFormatError, csv_header, locate
from shoplm.datasets.types import Dataset


@dataclass(frozen=True)
class Layout:
    """One source layout: the files it needs (CSV ones with the columns that identify it)."""

    name: str
    files: dict[str, tuple[str, ...]]  # file name (without .gz) -> required CSV columns
    load: Callable[[Path, str | None], Dataset]
    subsets: Callable[[Path], list[str]] | None = None

    def matches(self, folder: Path) -> bool:
        if self.subsets is not None:
            return bool(self.subsets(folder))
        for name, columns in self.files.items():
            path = locate(folder, name)
            if path is None:
                return False
            if columns and not set(columns) <= set(csv_header(path)):
                return False
        return True

    def describe(self) -> str:
        if self.subsets is not None:
            return f"{self.name} (<subset>.sequences.jsonl.gz + <subset>.item_attributes.jsonl.gz)"
        return f"{self.name} ({' + '.join(f'{n}.gz' for n in self.files)})"


def _plain(load: Callable[[Path], Dataset]) -> Callable[[Path, str | None], Dataset]:
    return lambda folder, _subset: load(folder)


def _s3rec(folder: Path, subset: str | None) -> Dataset:
    if subset is None:
        raise ValueError("amazon_s3rec needs a subset")
    return amazon.load_s3rec(folder, subset)


# First match wins; layouts sharing a file name are told apart by its columns.
LAYOUTS: tuple[Layout, ...] = (
    Layout("amazon_office", {"items.jsonl": (), "sequences.jsonl": ()}, _plain(amazon.load_office)),
    Layout(
        "amazon_games",
        {"items.csv": ("item_id", "title"), "sequences.jsonl": ()},
        _plain(amazon.load_games),
    ),
    Layout("amazon_s3rec", {}, _s3rec, subsets=amazon.s3rec_subsets),
    Layout(
        "homedepot_search",
        {"judgments.csv": homedepot.COLUMNS},
        _plain(homedepot.load_homedepot),
    ),
    Layout(
        "movielens_100k",
        {
            "ratings.csv": ("user_id", "item_id", "rating", "timestamp"),
            "movies.csv": ("item_id", "title"),
            "kg_triples.csv": (),
            "item_entity_link.csv": (),
        },
        _plain(movielens.load_movielens),
    ),
    Layout(
        "lastfm_hetrec",
        {
            "artists.csv": ("artist_id", "name"),
            "user_artist_plays.csv": ("user_id", "artist_id", "play_count"),
            "kg_triples.csv": (),
            "artist_entity_link.csv": (),
        },
        _plain(lastfm.load_lastfm),
    ),
    Layout(
        "amazon_office_reviews_sample",
        {"reviews.csv": reviews.AMAZON_COLUMNS},
        _plain(reviews.load_amazon_reviews),
    ),
    Layout(
        "womens_clothing_reviews",
        {"reviews.csv": reviews.CLOTHING_COLUMNS},
        _plain(reviews.load_clothing_reviews),
    ),
    Layout("wands_queries", {"queries.csv": wands.COLUMNS}, _plain(wands.load_wands_queries)),
)
_BY_NAME = {layout.name: layout for layout in LAYOUTS}
DATASET_NAMES = tuple(_BY_NAME)


def _folder(path: str | Path) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DatasetFormatError(f"{folder}: not a folder (a dataset is a folder of files)")
    return folder


def detect_dataset(path: str | Path) -> str:
    """The layout name (e.g. ``"amazon_office"``) of the files in ``path``."""
    folder = _folder(path)
    for layout in LAYOUTS:
        if layout.matches(folder):
            return layout.name
    found = sorted(p.name for p in folder.iterdir()) or ["(nothing)"]
    known = "; ".join(layout.describe() for layout in LAYOUTS)
    raise DatasetFormatError(
        f"{folder}: no known dataset layout. Found: {', '.join(found)}. Known layouts: {known}"
    )


def list_subsets(path: str | Path) -> list[str]:
    """Subsets a dataset folder offers (amazon_s3rec categories); [] when it has none."""
    folder = _folder(path)
    layout = _BY_NAME[detect_dataset(folder)]
    return layout.subsets(folder) if layout.subsets is not None else []


def load_dataset(path: str | Path, subset: str | None = None) -> Dataset:
    """Load the dataset in ``path``; ``subset`` picks an amazon_s3rec category.

    ``path`` may also name the subset as its last part (``.../amazon_s3rec/Beauty``).
    """
    candidate = Path(path).expanduser()
    if subset is None and not candidate.exists() and candidate.parent.is_dir():
        parent = candidate.parent
        if any(layout.subsets is not None and layout.matches(parent) for layout in LAYOUTS):
            candidate, subset = parent, candidate.name
    folder = _folder(candidate)
    layout = _BY_NAME[detect_dataset(folder)]
    if layout.subsets is None:
        if subset is not None:
            raise ValueError(f"{folder}: dataset {layout.name} has no subsets (got {subset!r})")
        return layout.load(folder, None)
    available = layout.subsets(folder)
    if subset is None:
        raise ValueError(
            f"{folder}: dataset {layout.name} needs a subset; available: {', '.join(available)}"
        )
    if subset not in available:
        raise ValueError(
            f"{folder}: dataset {layout.name} has no subset {subset!r}; "
            f"available: {', '.join(available)}"
        )
    return layout.load(folder, subset)
