"""A tiny random BERT saved as a local model folder, so encoder tests take seconds.

It is a 2-layer, 32-wide BertModel with a 40-word vocabulary, saved the way a local
sentence-transformers base is (config.json, safetensors weights, tokenizer), so code under
test loads it through the same path as the bundled MiniLM.  Its words are those of the
toy reviews the heads' tests make.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

POSITIVE = ["good", "great", "love", "lovely", "perfect", "nice"]
NEGATIVE = ["bad", "awful", "hate", "poor", "broken", "ugly"]
NEUTRAL = ["okay", "fine", "average"]
FILLER = ["dress", "fit", "the", "is", "this", "fabric", "color", "size", "very", "so"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = SPECIAL + POSITIVE + NEGATIVE + NEUTRAL + FILLER


def save_tiny_bert(folder: Path) -> str:
    """Write the seeded tiny model and its tokenizer to ``folder``; returns its path."""
    tokenizer = BertTokenizerFast(vocab={word: i for i, word in enumerate(WORDS)})
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return str(folder)
