"""Review texts with star ratings: Amazon Office reviews (sample) and Women's Clothing.

Each review's text is its title/summary and body joined ("Title. Body"); reviews with
neither are skipped. Labels follow ``sentiment_label``: 1-2 stars negative (0), 3 neutral
(1), 4-5 positive (2).  The clothing reviews also keep the reviewer's recommend flag.
"""

from __future__ import annotations

from pathlib import Path

from shoplm.datasets._io import DatasetFormatError, read_csv, require, to_float, to_id
from shoplm.datasets.types import TextLabelDataset, sentiment_label
from shoplm.text.sentences import join_sentences

# (rating, item id, body, title) columns of each source.
AMAZON_COLUMNS = ("overall", "asin", "reviewText", "summary")
CLOTHING_COLUMNS = ("Rating", "Clothing ID", "Review Text", "Title")
CLOTHING_RECOMMENDED = "Recommended IND"


def _load(
    folder: Path,
    name: str,
    columns: tuple[str, str, str, str],
    recommended_col: str | None = None,
) -> TextLabelDataset:
    """The reviews in ``folder``; ``recommended_col``, where the file has it, kept per review."""
    rating_col, item_col, body_col, title_col = columns
    path = require(folder, "reviews.csv")
    texts: list[str] = []
    ratings: list[float] = []
    item_ids: list[str] = []
    recommended: list[bool] = []
    for line, row in read_csv(path, columns):
        text = join_sentences([row[title_col], row[body_col]])
        if not text:
            continue
        rating = to_float(row[rating_col], path, line, rating_col)
        if not 1.0 <= rating <= 5.0:
            raise DatasetFormatError(
                f"{path}: line {line}: field {rating_col!r} must be 1..5, got {rating}"
            )
        texts.append(text)
        ratings.append(rating)
        item_ids.append(to_id(row[item_col], path, line, item_col))
        flag = _flag(row, recommended_col, path, line)
        if flag is not None:
            recommended.append(flag)
    return TextLabelDataset(
        name=name,
        texts=texts,
        ratings=ratings,
        labels=[sentiment_label(r) for r in ratings],
        item_ids=item_ids,
        recommended=recommended if recommended else None,
    )


def _flag(row: dict[str, str], field: str | None, path: Path, line: int) -> bool | None:
    """A 0/1 field as a bool, None where the file has no such column; anything else is an
    error naming the line."""
    if field is None or field not in row:
        return None
    value = row[field]
    text = (value or "").strip()
    if text not in ("0", "1"):
        raise DatasetFormatError(
            f"{path}: line {line}: field {field!r} must be 0 or 1, got {value!r}"
        )
    return text == "1"


def load_amazon_reviews(folder: Path) -> TextLabelDataset:
    """Amazon Office 2018 reviews, stratified by the source (3000/1000/1000/1000/3000)."""
    return _load(folder, "amazon_office_reviews_sample", AMAZON_COLUMNS)


def load_clothing_reviews(folder: Path) -> TextLabelDataset:
    """Women's E-Commerce Clothing Reviews (CC0): item_ids are the Clothing IDs."""
    return _load(folder, "womens_clothing_reviews", CLOTHING_COLUMNS, CLOTHING_RECOMMENDED)
