"""Tiny stand-ins for each public dataset layout: same file names and columns, a few rows.

Tests get these helpers through the ``fakes`` fixture (the suite imports test files with
``--import-mode=importlib``, so a helper module cannot be imported by name).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """CSV, gzip'd when the name ends in .gz (like the real files)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    data = "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def make_amazon_office(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(
        folder / "items.jsonl.gz",
        [
            {
                "item_id": 0,
                "title": "AT&amp;T 210 Corded Phone, Black",
                "description": "A basic phone.",
                "brand": "AT&T",
                "categories": "Office Electronics, Telephones & Accessories, Corded Telephones",
            },
            {
                "item_id": 1,
                "title": "BIC Round Stic Ball Pen",
                "description": "",
                "brand": "BIC",
                "categories": "Office & School Supplies, Writing & Correction Supplies, Pens",
            },
            {"item_id": 2, "title": "", "description": "", "brand": "", "categories": "Paper"},
        ],
    )
    write_jsonl(
        folder / "sequences.jsonl.gz",
        [{"user_id": 0, "item_ids": [0, 1, 2]}, {"user_id": 1, "item_ids": [2, 0]}],
    )
    return folder


def make_amazon_games(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "items.csv.gz",
        ["item_id", "title"],
        [[0, "Fire Emblem: The Sacred Stones"], [1, "GBA 6-Pak Care Case"], [2, "Tetris"]],
    )
    write_jsonl(
        folder / "sequences.jsonl.gz",
        [{"user_id": 0, "item_ids": [0, 1]}, {"user_id": 1, "item_ids": [2, 1, 0]}],
    )
    return folder


def make_s3rec(folder: Path, categories: Sequence[str] = ("Beauty", "Toys_and_Games")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for category in categories:
        write_jsonl(
            folder / f"{category}.item_attributes.jsonl.gz",
            [
                {"item_id": 1, "attribute_ids": [173, 1, 162]},
                {"item_id": 2, "attribute_ids": [4, 5]},
                {"item_id": 3, "attribute_ids": [9]},
            ],
        )
        write_jsonl(
            folder / f"{category}.sequences.jsonl.gz",
            [{"user_id": 1, "item_ids": [1, 2, 3]}, {"user_id": 2, "item_ids": [3, 1]}],
        )
    return folder


def make_homedepot(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "judgments.csv.gz",
        ["id", "product_uid", "product_title", "search_term", "relevance"],
        [
            [2, 100001, "Simpson Strong-Tie 12-Gauge Angle", "angle bracket", 3],
            [3, 100001, "Simpson Strong-Tie 12-Gauge Angle", "l bracket", 2.5],
            [9, 100002, "BEHR Premium Textured DeckOver 1-gal.", "deck over", 3],
            [16, 100005, "Delta Vero 1-Handle Shower Faucet", "l bracket", 1.33],
            [17, 100005, "Delta Vero 1-Handle Shower Faucet", "l  bracket", 2.0],
        ],
    )
    return folder


def make_movielens(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "movies.csv.gz",
        ["item_id", "title", "release_year", "genres"],
        [[1, "Toy Story", 1995, "Animation Children's Comedy"], [2, "GoldenEye", 1995, "Action"]],
    )
    write_csv(
        folder / "ratings.csv.gz",
        ["user_id", "item_id", "rating", "timestamp"],
        [[196, 2, 3, 881250949], [196, 1, 5, 881250000], [22, 1, 1, 878887116]],
    )
    write_csv(
        folder / "users.csv.gz",
        ["user_id", "age", "gender", "occupation", "zip_code"],
        [[196, 49, "M", "writer", "55105"], [22, 25, "M", "writer", "40206"]],
    )
    write_csv(
        folder / "kg_triples.csv.gz",
        ["head_entity", "relation", "tail_entity"],
        [["m.0dyb1", "film.film.actor", "m.0bn9d"], ["m.0dyb1", "film.film.genre", "m.0hcr"]],
    )
    write_csv(folder / "item_entity_link.csv.gz", ["item_id", "entity_id"], [[1, "m.0dyb1"]])
    return folder


def make_lastfm(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "artists.csv.gz",
        ["artist_id", "name", "url"],
        [
            [51, "Duran Duran", "http://www.last.fm/music/Duran+Duran"],
            [52, "Morcheeba", "http://www.last.fm/music/Morcheeba"],
        ],
    )
    write_csv(
        folder / "user_artist_plays.csv.gz",
        ["user_id", "artist_id", "play_count", "tags"],
        [
            [2, 51, 13883, ""],
            [2, 52, 11690, "chillout,downtempo,electronic"],
            [3, 52, 500, "chillout,trip-hop"],
        ],
    )
    write_csv(
        folder / "kg_triples.csv.gz",
        ["head_entity", "relation", "tail_entity"],
        [[0, "music.artist.origin", 3846]],
    )
    write_csv(folder / "artist_entity_link.csv.gz", ["artist_id", "entity_id"], [[52, 0]])
    return folder


AMAZON_REVIEW_HEADER = [
    "overall",
    "verified",
    "reviewTime",
    "reviewerID",
    "asin",
    "style",
    "reviewerName",
    "reviewText",
    "summary",
    "unixReviewTime",
    "vote",
    "image",
]


def _amazon_review(overall: float, asin: str, text: str, summary: str) -> list[Any]:
    return [overall, True, "12 12, 2017", "A20AKRG3", asin, "", "Ann", text, summary, 0, "", ""]


def make_amazon_reviews(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "reviews.csv.gz",
        AMAZON_REVIEW_HEADER,
        [
            _amazon_review(1.0, "B00RN08584", "miserable set up.", "stay away"),
            _amazon_review(3.0, "B001VEJ23A", "It works, mostly.", ""),
            _amazon_review(5.0, "B0006VQBTW", "Great markers!", "Love them!"),
            _amazon_review(4.0, "B0006VQBTW", "", ""),
        ],
    )
    return folder


def make_clothing_reviews(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "reviews.csv.gz",
        [
            "row_id",
            "Clothing ID",
            "Age",
            "Title",
            "Review Text",
            "Rating",
            "Recommended IND",
            "Positive Feedback Count",
            "Division Name",
            "Department Name",
            "Class Name",
        ],
        [
            [0, 767, 33, "", "Absolutely wonderful - silky", 4, 1, 0, "Initmates", "Intimate", "x"],
            [
                1,
                1080,
                34,
                "Some major design flaws",
                "Too small.",
                2,
                0,
                4,
                "General",
                "Dresses",
                "x",
            ],
            [2, 1077, 60, "", "", 5, 1, 0, "General", "Dresses", "Dresses"],
        ],
    )
    return folder


def make_wands(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "queries.csv.gz",
        ["query_id", "query", "query_class"],
        [
            [0, "salon chair", "Massage Chairs"],
            [1, "smart coffee table", "Coffee & Cocktail Tables"],
        ],
    )
    return folder


MAKERS: dict[str, Callable[[Path], Path]] = {
    "amazon_office": make_amazon_office,
    "amazon_games": make_amazon_games,
    "amazon_s3rec": make_s3rec,
    "homedepot_search": make_homedepot,
    "movielens_100k": make_movielens,
    "lastfm_hetrec": make_lastfm,
    "amazon_office_reviews_sample": make_amazon_reviews,
    "womens_clothing_reviews": make_clothing_reviews,
    "wands_queries": make_wands,
}


@pytest.fixture
def fakes() -> ModuleType:
    """This module: ``fakes.make_movielens(tmp_path / "ml")`` and friends."""
    return sys.modules[__name__]
