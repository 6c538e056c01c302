"""LoRA on the top blocks: the cached-prefix path equals the full forward pass, and trains."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from shoplm.config import DEFAULT_ENCODER, EncoderSettings
from shoplm.finetune.data import TrainingData
from shoplm.finetune.model import LoraSettings, add_lora, load_sentence_model, parameter_counts
from shoplm.finetune.prefix import CachedPrefix, needed_texts, why_not_split
from shoplm.finetune.train import FinetuneConfig, train_encoder
from shoplm.text.encoder import TextEncoder

TEXTS = ["red office stapler with staples", "laser printer toner", "mug"]
# all-MiniLM-L6-v2: 2 top layers x 3 projections (query, key, value) x (384*8 + 8*384)
LORA_R8_QKV_TOP2 = 2 * 3 * (384 * 8 + 8 * 384)


def _nudge_lora(model: torch.nn.Module) -> None:
    """Give the fresh adapter non-zero weights so it changes the output."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.05)


def test_top_layer_lora_adapts_only_the_top_blocks() -> None:
    model = load_sentence_model(DEFAULT_ENCODER, "cpu")
    frozen = add_lora(model, LoraSettings(r=8, layers=2))
    assert frozen == 4
    assert parameter_counts(model)["trainable"] == LORA_R8_QKV_TOP2
    names = [n for n, _ in model.named_parameters() if "lora_A" in n]
    adapted = {n.split(".layer.")[1].split(".")[0] for n in names}
    assert adapted == {"4", "5"}


def test_cached_prefix_matches_the_full_forward_pass() -> None:
    model = load_sentence_model(DEFAULT_ENCODER, "cpu")
    model.max_seq_length = 16
    frozen = add_lora(model, LoraSettings(r=8, layers=2))
    _nudge_lora(model)
    assert why_not_split(model) is None
    model.eval()
    cache = CachedPrefix(model, frozen, TEXTS, max_seq_length=16, device="cpu")
    full = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert cache.covers(TEXTS) and not cache.covers(["unseen text"])
    np.testing.assert_allclose(cache.encode(TEXTS), full, atol=2e-3)  # float16 states
    with torch.no_grad():
        np.testing.assert_allclose(cache.embed(TEXTS[::-1]).numpy(), full[::-1], atol=2e-3)


def test_pipelines_that_cannot_be_split_say_why() -> None:
    model = load_sentence_model(DEFAULT_ENCODER, "cpu")
    model[1].pooling_mode = "cls"
    assert "cls" in (why_not_split(model) or "")


def test_needed_texts_cover_pairs_and_validation(tiny_data: TrainingData) -> None:
    texts = needed_texts(tiny_data)
    assert len(texts) == len(set(texts))
    for pair in tiny_data.pairs:
        assert tiny_data.corpus[pair.positive] in texts
    assert {tiny_data.corpus[i] for i in tiny_data.valid_corpus} <= set(texts)


def test_top_layer_run_trains_exports_and_serves(
    tmp_path: Path,
    tiny_config: FinetuneConfig,
    tiny_data_factory: Callable[[], TrainingData],
) -> None:
    config = tiny_config.model_copy(update={"lora_layers": 2})
    messages: list[str] = []
    result = train_encoder(
        tiny_data_factory(), config, tmp_path / "run", show_progress=False, progress=messages.append
    )
    assert result["finished"] and result["trainable_params"] == LORA_R8_QKV_TOP2
    assert any("4 frozen blocks once" in m for m in messages)
    assert result["lora"]["layers"] == 2
    # The merged folder serves like any model, and the adapter moved the vectors.
    tuned = TextEncoder(EncoderSettings(model=result["model_folder"])).encode(TEXTS)
    base = TextEncoder(EncoderSettings()).encode(TEXTS)
    assert tuned.shape == base.shape
    assert not np.allclose(tuned, base, atol=1e-4)


def test_full_mode_rejects_lora_layers() -> None:
    with pytest.raises(ValueError, match="lora_layers is a LoRA setting"):
        FinetuneConfig(mode="full", lora_layers=2)
