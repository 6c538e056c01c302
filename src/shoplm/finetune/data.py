"""What the fine-tuning loop learns from, as plain JSON-able data.

A training pair says "this anchor should sit close to this item": the anchor is a query or a
user's recent items, the positive the item that followed.  Items are referred to by id and
their text lives once in ``corpus``, so a pair file stays small and a data hash names exactly
what a model was trained on.  Validation uses the same shapes, scored as retrieval over
``valid_corpus`` (see :mod:`shoplm.finetune.validation`).

``held_out`` are the pairs whose positives validation holds back (each user's newest item, the
validation queries' judged items).  Training never sees them; a refit (``FinetuneConfig.refit``)
trains once more on them and the pairs together, for as long as validation chose.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FORMAT = 1

# texts -> unit vectors, one row per text: how validation, filters and miners see an encoder.
Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass
class Anchor:
    """A query text, or a history of corpus items weighed newest-heaviest (never both)."""

    text: str | None = None
    item_ids: list[str] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if (self.text is None) == (not self.item_ids):
            raise ValueError("an anchor is either a text or a list of item ids, not both/neither")
        if self.item_ids and len(self.weights) != len(self.item_ids):
            raise ValueError(
                f"anchor has {len(self.item_ids)} item ids but {len(self.weights)} weights"
            )


@dataclass
class TrainingPair:
    """anchor -> positive item; ``exclude`` are ids never to be used as its negatives."""

    anchor: Anchor
    positive: str
    negatives: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)


@dataclass
class ValidationCase:
    """One held-out anchor with graded gains per relevant item; ``exclude`` is not ranked."""

    anchor: Anchor
    gains: dict[str, float]
    exclude: list[str] = field(default_factory=list)


@dataclass
class TrainingData:
    """Pairs, validation cases and the text of every item they name."""

    kind: str  # "recommend" or "search": how the pairs were made
    corpus: dict[str, str]
    pairs: list[TrainingPair]
    valid: list[ValidationCase]
    valid_corpus: list[str]  # item ids ranked for validation
    notes: dict[str, object] = field(default_factory=dict)
    held_out: list[TrainingPair] = field(default_factory=list)

    def check(self) -> None:
        """Every id a pair or case names has a text: a clear error instead of a KeyError."""
        for label, pairs in (("training pair", self.pairs), ("held-out pair", self.held_out)):
            for i, pair in enumerate(pairs):
                for item_id in [pair.positive, *pair.negatives, *pair.anchor.item_ids]:
                    if item_id not in self.corpus:
                        raise ValueError(f"{label} {i} names item {item_id!r} with no text")
        for item_id in self.valid_corpus:
            if item_id not in self.corpus:
                raise ValueError(f"validation corpus item {item_id!r} has no text")
        for i, case in enumerate(self.valid):
            for item_id in case.anchor.item_ids:
                if item_id not in self.corpus:
                    raise ValueError(f"validation case {i} names item {item_id!r} with no text")

    def to_dict(self) -> dict:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> TrainingData:
        if data.get("format") != FORMAT:
            raise ValueError(f"training data format {data.get('format')!r} is not {FORMAT}")
        pairs = [_pair_from_dict(p) for p in data["pairs"]]
        valid = [
            ValidationCase(
                anchor=Anchor(**c["anchor"]), gains=dict(c["gains"]), exclude=list(c["exclude"])
            )
            for c in data["valid"]
        ]
        return cls(
            kind=data["kind"],
            corpus=dict(data["corpus"]),
            pairs=pairs,
            valid=valid,
            valid_corpus=list(data["valid_corpus"]),
            notes=dict(data.get("notes", {})),
            held_out=[_pair_from_dict(p) for p in data.get("held_out", [])],
        )

    def save(self, path: Path) -> None:
        """gzip'd JSON: read back by :meth:`load`, also by a child training process."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, ensure_ascii=False)

    @classmethod
    def load(cls, path: Path) -> TrainingData:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

    def data_hash(self) -> str:
        """SHA-256 (16 hex) of the pairs, validation and texts: names the training data.

        The held-out pairs are left out: they change only a refit, which hashes them itself
        (:meth:`held_out_hash`), so a finished run still resumes to refit.
        """
        content = self.to_dict()
        del content["held_out"]
        return _hash(content)

    def held_out_hash(self) -> str:
        """SHA-256 (16 hex) of the held-out pairs alone."""
        return _hash([asdict(pair) for pair in self.held_out])


def _pair_from_dict(pair: dict) -> TrainingPair:
    return TrainingPair(
        anchor=Anchor(**pair["anchor"]),
        positive=pair["positive"],
        negatives=list(pair["negatives"]),
        exclude=list(pair["exclude"]),
    )


def _hash(content: object) -> str:
    payload = json.dumps(content, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
