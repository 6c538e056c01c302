"""The network: pooling matches sentence-transformers; the block-split path matches forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shoplm.config import EncoderSettings
from shoplm.heads import LoraSettings
from shoplm.heads.batches import collate, tokenize
from shoplm.heads.model import HeadNet, add_lora, count_trainable, load_base, lora_target_pattern
from shoplm.heads.prefix import PrefixStates
from shoplm.text.encoder import TextEncoder

TEXTS = ["red silicone phone case", "garden hose", "espresso coffee machine with grinder"]


def test_pooled_vectors_match_the_sentence_transformers_encoder() -> None:
    base = load_base()
    net = HeadNet(base.encoder, base.dim, 2).eval()
    batch = collate(base.tokenizer, tokenize(base.tokenizer, TEXTS, 128), torch.device("cpu"))
    with torch.no_grad():
        ours = net.embed(**batch).numpy()
    reference = TextEncoder(EncoderSettings()).encode(TEXTS)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_plain_mean_pooling_is_the_normalised_vector_unscaled(tiny_base) -> None:
    base = load_base(tiny_base)
    normalised = HeadNet(base.encoder, base.dim, 2).eval()
    plain = HeadNet(base.encoder, base.dim, 2, normalise=False).eval()
    batch = collate(base.tokenizer, tokenize(base.tokenizer, TEXTS, 32), torch.device("cpu"))
    with torch.no_grad():
        unit, raw = normalised.embed(**batch), plain.embed(**batch)
    lengths = raw.norm(dim=1, keepdim=True)
    assert not torch.allclose(lengths, torch.ones_like(lengths))
    torch.testing.assert_close(raw / lengths, unit)


def test_head_dropout_acts_only_while_training(tiny_base) -> None:
    base = load_base(tiny_base)
    net = HeadNet(base.encoder, base.dim, 3, dropout=0.5)
    batch = collate(base.tokenizer, tokenize(base.tokenizer, TEXTS, 32), torch.device("cpu"))
    torch.manual_seed(0)
    with torch.no_grad():
        net.train()
        noisy = [net(**batch) for _ in range(2)]
        net.eval()
        clean = [net(**batch) for _ in range(2)]
    assert not torch.equal(noisy[0], noisy[1])
    assert torch.equal(clean[0], clean[1])
    torch.testing.assert_close(clean[0], net.head(net.embed(**batch)))


def test_top_layer_lora_split_path_equals_the_full_forward(tiny_base) -> None:
    base = load_base(tiny_base)
    encoder, frozen = add_lora(base.encoder, LoraSettings(r=2, alpha=4, dropout=0.0, layers=1))
    assert frozen == 1  # 2 blocks, the top one adapted
    trainable = {n for n, p in encoder.named_parameters() if p.requires_grad}
    assert trainable and all(".layer.1." in n and "lora_" in n for n in trainable)
    torch.manual_seed(1)
    with torch.no_grad():  # B starts at zero; make the adapter matter
        for name, p in encoder.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    net = HeadNet(encoder, base.dim, 3, frozen).eval()
    texts = ["good dress", "the fabric is very ugly and broken so bad", "okay"]
    ids = tokenize(base.tokenizer, texts, 32)
    with torch.no_grad():
        full = net(**collate(base.tokenizer, ids, torch.device("cpu"))).numpy()
    states = PrefixStates.compute(net, base.tokenizer, ids, 2, torch.device("cpu"))
    assert states.lengths == [len(r) for r in ids]
    split = states.outputs(net, 2, torch.device("cpu"))
    np.testing.assert_allclose(split, full, atol=2e-3)  # states are kept as float16


def test_lora_pattern_names_only_the_top_blocks() -> None:
    assert lora_target_pattern(6, 2).startswith(r".*encoder\.layer\.(4|5)\.")
    assert lora_target_pattern(6, None).startswith(r".*encoder\.layer\.(0|1|2|3|4|5)\.")
    with pytest.raises(ValueError, match="at least 1"):
        LoraSettings(layers=0)


def test_count_trainable_counts_only_parameters_that_learn() -> None:
    layer = torch.nn.Linear(4, 3)
    assert count_trainable(layer) == 15
    layer.weight.requires_grad_(False)
    assert count_trainable(layer) == 3
