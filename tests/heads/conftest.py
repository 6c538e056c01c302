"""A toy sentiment set in the words of the tiny random BERT (``tiny_base``, from
:mod:`tiny_bert`), so head tests take seconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from tiny_bert import FILLER, NEGATIVE, NEUTRAL, POSITIVE

from shoplm.heads import Examples, HeadConfig, LoraSettings


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors gain nothing from threads, and on a busy machine they wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _reviews(n: int, offset: int) -> Examples:
    texts, labels = [], []
    for i in range(n):
        filler = " ".join(FILLER[(i + offset + k) % len(FILLER)] for k in range(3))
        if i % 3 == 0:
            texts.append(f"{POSITIVE[(i + offset) % len(POSITIVE)]} {filler}")
            labels.append("positive")
        elif i % 3 == 1:
            texts.append(f"{filler} {NEGATIVE[(i + offset) % len(NEGATIVE)]}")
            labels.append("negative")
        else:
            texts.append(f"{filler} {NEUTRAL[(i + offset) % len(NEUTRAL)]}")
            labels.append("neutral")
    return Examples(texts, labels)


@pytest.fixture
def toy_train() -> Examples:
    return _reviews(48, 0)


@pytest.fixture
def toy_valid() -> Examples:
    return _reviews(15, 7)


@pytest.fixture
def tiny_lora(tiny_base: str) -> HeadConfig:
    """A quick LoRA head setting on the tiny base: one epoch, rank 2, no dropout (so runs
    with the same seed repeat exactly)."""
    return HeadConfig(
        mode="lora",
        base_model=tiny_base,
        batch_size=8,
        epochs=1,
        class_weights="none",
        lora=LoraSettings(r=2, alpha=4, dropout=0.0),
    )
