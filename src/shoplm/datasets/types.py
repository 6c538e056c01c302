"""What a loaded public dataset looks like, whatever file layout it came from.

Every adapter returns one of these plain containers, so the evaluation runner and the CLI
handle "a recommendation benchmark" or "a search benchmark" without knowing the source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from shoplm.schema import DEFAULT_PLATFORM, Event, EventType, Item

# Sources without times get synthetic ones: this base (2020-01-01T00:00:00Z) plus the item's
# position in the user's sequence, so the order is kept and times strictly increase per user.
SYNTHETIC_TIME_BASE = 1_577_836_800.0

PROTOCOLS = ("leave_one_out", "temporal")


@dataclass
class KnowledgeGraph:
    """Item-side facts as (head, relation, tail) triples, plus which entity each item is."""

    triples: list[tuple[str, str, str]]
    item_entity: dict[str, str]  # item_id -> entity id


@dataclass
class RecDataset:
    """Users' ordered interaction sequences over a catalog: a recommendation benchmark."""

    name: str
    items: list[Item]
    sequences: dict[str, list[str]]  # user_id -> item_ids, oldest first
    timestamps: dict[str, list[float]] | None = None  # same shape, where times are real
    values: dict[str, list[float]] | None = None  # ratings / play counts, same shape
    has_real_time: bool = False
    protocol: str = "leave_one_out"
    kg: KnowledgeGraph | None = None
    event_type: EventType = EventType.PURCHASE  # what one interaction becomes as an Event

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        for label, columns in (("timestamps", self.timestamps), ("values", self.values)):
            if columns is None:
                continue
            for user_id, items in self.sequences.items():
                if len(columns.get(user_id, ())) != len(items):
                    raise ValueError(f"{label} of user {user_id!r} do not match its sequence")

    def n_interactions(self) -> int:
        return sum(len(items) for items in self.sequences.values())

    def events(self, platform: str = DEFAULT_PLATFORM) -> Iterator[Event]:
        """One validated Event per interaction, users in dataset order, each oldest first.

        Where the source has no times, timestamps are ``SYNTHETIC_TIME_BASE + position``.
        """
        for user_id, items in self.sequences.items():
            stamps = self.timestamps[user_id] if self.timestamps is not None else None
            values = self.values[user_id] if self.values is not None else None
            for position, item_id in enumerate(items):
                yield Event(
                    user_id=user_id,
                    item_id=item_id,
                    platform=platform,
                    type=self.event_type,
                    value=values[position] if values is not None else None,
                    timestamp=(
                        stamps[position] if stamps is not None else SYNTHETIC_TIME_BASE + position
                    ),
                )


@dataclass
class SearchQuery:
    """One query with graded judgments: item_id -> relevance on the source's scale."""

    query_id: str
    text: str
    judgments: dict[str, float]


@dataclass
class SearchDataset:
    """A catalog plus judged queries: a product-search benchmark."""

    name: str
    items: list[Item]
    queries: list[SearchQuery]

    def filtered(self, min_judged: int) -> SearchDataset:
        """Only queries with at least ``min_judged`` judged items (same catalog)."""
        kept = [q for q in self.queries if len(q.judgments) >= min_judged]
        return SearchDataset(name=self.name, items=self.items, queries=kept)


@dataclass
class QueryClassDataset:
    """Queries labelled with the product class they target: a query-understanding check."""

    name: str
    queries: list[tuple[str, str, str]]  # (query_id, text, label)


@dataclass
class TextLabelDataset:
    """Review texts with star ratings and a 3-way sentiment label (see ``sentiment_label``).

    ``recommended``: whether each reviewer also ticked "I recommend this product", where the
    source asks (clothing reviews); None where it does not.
    """

    name: str
    texts: list[str]
    ratings: list[float]
    labels: list[int]
    item_ids: list[str] | None = None
    recommended: list[bool] | None = None

    def __post_init__(self) -> None:
        sizes = {len(self.texts), len(self.ratings), len(self.labels)}
        for optional in (self.item_ids, self.recommended):
            if optional is not None:
                sizes.add(len(optional))
        if len(sizes) != 1:
            raise ValueError(
                "texts, ratings, labels, item_ids and recommended must have the same length"
            )


# Sentiment classes from a 1..5 star rating.
NEGATIVE, NEUTRAL, POSITIVE = 0, 1, 2
SENTIMENT_NAMES = ("negative", "neutral", "positive")


def sentiment_label(rating: float) -> int:
    """1-2 stars -> 0 (negative), 3 -> 1 (neutral), 4-5 -> 2 (positive)."""
    if rating < 2.5:
        return NEGATIVE
    if rating < 3.5:
        return NEUTRAL
    return POSITIVE


Dataset = RecDataset | SearchDataset | QueryClassDataset | TextLabelDataset

__all__ = [
    "NEGATIVE",
    "NEUTRAL",
    "POSITIVE",
    "PROTOCOLS",
    "SENTIMENT_NAMES",
    "SYNTHETIC_TIME_BASE",
    "Dataset",
    "KnowledgeGraph",
    "QueryClassDataset",
    "RecDataset",
    "SearchDataset",
    "SearchQuery",
    "TextLabelDataset",
    "sentiment_label",
]
