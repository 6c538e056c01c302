"""A tiny random BERT folder and a toy sentiment set, made here so head tests take seconds.

The base model is a 2-layer, 32-wide BertModel with a 40-word vocabulary, saved the way a
local sentence-transformers folder is (config.json, safetensors weights, tokenizer), so the
heads load it through the same path as the bundled MiniLM.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

from shoplm.heads import Examples, HeadConfig, LoraSettings

POSITIVE = ["good", "great", "love", "lovely", "perfect", "nice"]
NEGATIVE = ["bad", "awful", "hate", "poor", "broken", "ugly"]
NEUTRAL = ["okay", "fine", "average"]
FILLER = ["dress", "fit", "the", "is", "this", "fabric", "color", "size", "very", "so"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors gain nothing from threads, and on a busy machine they wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("tiny-bert")
    words = SPECIAL + POSITIVE + NEGATIVE + NEUTRAL + FILLER
    tokenizer = BertTokenizerFast(vocab={word: i for i, word in enumerate(words)})
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return str(folder)


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
