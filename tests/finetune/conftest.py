"""Tiny fine-tuning data: a dozen short item texts, a few steps on the bundled MiniLM."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shoplm.finetune.data import TrainingData
from shoplm.finetune.pairs import recommendation_data
from shoplm.finetune.train import FinetuneConfig
from shoplm.schema import Item

TITLES = [
    "red office stapler",
    "stapler refill staples",
    "blue ballpoint pens",
    "black gel pens",
    "printer paper ream",
    "laser printer toner",
    "desk lamp led",
    "ergonomic office chair",
    "coffee mug ceramic",
    "whiteboard markers",
    "sticky notes yellow",
    "paper clips box",
]
SEQUENCES = {
    "u1": ["i0", "i1", "i9", "i2"],
    "u2": ["i2", "i3", "i10", "i9"],
    "u3": ["i4", "i5", "i11", "i0"],
    "u4": ["i6", "i7", "i8", "i4"],
    "u5": ["i0", "i1", "i10", "i11"],
    "u6": ["i2", "i3", "i4", "i5"],
}


def make_tiny_data() -> TrainingData:
    """12 pairs (6 users x 2) and 6 validation users over 12 items."""
    items = [Item(item_id=f"i{n}", title=t) for n, t in enumerate(TITLES)]
    return recommendation_data(items, SEQUENCES, window=1)


@pytest.fixture
def tiny_data() -> TrainingData:
    return make_tiny_data()


@pytest.fixture(scope="module")
def tiny_data_factory() -> Callable[[], TrainingData]:
    return make_tiny_data


@pytest.fixture(scope="module")
def tiny_config() -> FinetuneConfig:
    """Four steps of three pairs at 16 tokens (seconds on a CPU); the last weights are kept."""
    return FinetuneConfig(
        mode="lora",
        epochs=1,
        batch_size=3,
        max_seq_length=16,
        learning_rate=5e-3,
        checkpoint_every=1,
        patience=5,
        keep_best=False,
    )
