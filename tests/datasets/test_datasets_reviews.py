"""Review sentiment sets: text assembly, rating -> label mapping, skipped empty reviews."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from shoplm.datasets import DatasetFormatError, sentiment_label
from shoplm.datasets.reviews import load_amazon_reviews, load_clothing_reviews


def test_amazon_reviews_join_summary_and_text(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_amazon_reviews(fakes.make_amazon_reviews(tmp_path / "rev"))
    assert data.name == "amazon_office_reviews_sample"
    assert data.texts == [
        "stay away. miserable set up.",
        "It works, mostly.",
        "Love them! Great markers!",
    ]
    assert data.ratings == [1.0, 3.0, 5.0]  # the empty 4-star review is skipped
    assert data.labels == [0, 1, 2]
    assert data.item_ids == ["B00RN08584", "B001VEJ23A", "B0006VQBTW"]


def test_clothing_reviews(tmp_path: Path, fakes: ModuleType) -> None:
    data = load_clothing_reviews(fakes.make_clothing_reviews(tmp_path / "rev"))
    assert data.name == "womens_clothing_reviews"
    assert data.texts == ["Absolutely wonderful - silky", "Some major design flaws. Too small."]
    assert data.labels == [2, 0]
    assert data.item_ids == ["767", "1080"]
    assert data.recommended == [True, False]  # the reviewers' "Recommended IND"


def test_clothing_reviews_without_or_with_a_bad_recommend_flag(
    tmp_path: Path, fakes: ModuleType
) -> None:
    header = ["Clothing ID", "Title", "Review Text", "Rating"]
    (tmp_path / "plain").mkdir()
    fakes.write_csv(tmp_path / "plain" / "reviews.csv.gz", header, [[1, "", "Nice", 5]])
    assert load_clothing_reviews(tmp_path / "plain").recommended is None
    bad = tmp_path / "bad"
    bad.mkdir()
    rows = [[1, "", "Nice", 5, 1], [2, "", "Meh", 3, "yes"]]
    fakes.write_csv(bad / "reviews.csv.gz", [*header, "Recommended IND"], rows)
    with pytest.raises(DatasetFormatError, match=r"line 3: field 'Recommended IND' must be 0 or 1"):
        load_clothing_reviews(bad)


@pytest.mark.parametrize(
    ("rating", "label"), [(1, 0), (1.5, 0), (2, 0), (3, 1), (4, 2), (4.5, 2), (5, 2)]
)
def test_sentiment_label_mapping(rating: float, label: int) -> None:
    assert sentiment_label(rating) == label


def test_rating_out_of_range_names_the_line(tmp_path: Path, fakes: ModuleType) -> None:
    folder = tmp_path / "rev"
    folder.mkdir()
    row = [7.0, True, "", "A", "B01", "", "Ann", "text", "sum", 0, "", ""]
    fakes.write_csv(folder / "reviews.csv.gz", fakes.AMAZON_REVIEW_HEADER, [row])
    with pytest.raises(DatasetFormatError, match=r"line 2: field 'overall' must be 1\.\.5"):
        load_amazon_reviews(folder)
