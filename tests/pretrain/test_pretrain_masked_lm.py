"""Masked-LM pretraining on the tiny random BERT: what it writes, keeps and refuses."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from tiny_bert import FILLER, NEGATIVE, POSITIVE
from transformers import AutoModel

from shoplm.finetune.model import load_sentence_model
from shoplm.pretrain import MaskedLmConfig, PretrainDataError, pretrain_masked_lm
from shoplm.pretrain.masked_lm import (
    MANIFEST,
    check_pretrain_texts,
    kept_epoch,
    masked_lm_for,
    texts_hash,
)


def _texts(n: int = 80) -> list[str]:
    """Short texts with a pattern to learn: each sentiment word is followed by 'dress'."""
    words = POSITIVE + NEGATIVE
    return [
        f"{words[i % len(words)]} dress {FILLER[(i * 3) % len(FILLER)]} {FILLER[i % len(FILLER)]}"
        for i in range(n)
    ]


def _quick(**changes: object) -> MaskedLmConfig:
    settings = dict(epochs=3, batch_size=8, max_seq_length=16, encoder_lr=1e-3, valid_fraction=0.25)
    return MaskedLmConfig(**{**settings, **changes})  # type: ignore[arg-type]


def test_masked_lm_holds_the_encoder_weights_with_the_output_layer_tied(tiny_base: str) -> None:
    encoder = AutoModel.from_pretrained(tiny_base)
    mlm = masked_lm_for(encoder)
    body = mlm.base_model.state_dict()
    for name, weight in encoder.state_dict().items():
        if not name.startswith("pooler."):
            assert torch.equal(body[name], weight), name
    assert mlm.get_output_embeddings().weight is mlm.base_model.embeddings.word_embeddings.weight


def test_pretraining_writes_a_model_folder_that_loads_and_learnt(
    tiny_base: str, tmp_path: Path
) -> None:
    out = tmp_path / "pretrained"
    texts = _texts()
    report = pretrain_masked_lm(texts, tiny_base, out, _quick())

    assert report["texts"] == 80 and report["valid_texts"] == 20 and report["train_texts"] == 60
    assert report["steps"] == 3 * 8  # 60 texts in batches of 8: 8 a pass, the last one short
    assert report["texts_hash"] == texts_hash(texts)
    losses = [h["valid_loss"] for h in report["history"]]
    assert len(losses) == 3 and losses[-1] < losses[0]  # masked words of the held-out texts
    assert all(math.isfinite(h["train_loss"]) for h in report["history"])  # maskless batches
    assert report["kept_epoch"] == 1 + losses.index(min(losses))
    assert json.loads((out / MANIFEST).read_text())["history"] == report["history"]
    assert not any(p.name.endswith((".partial", ".new", ".old")) for p in tmp_path.iterdir())

    before = load_sentence_model(tiny_base, "cpu")
    after = load_sentence_model(str(out), "cpu")
    assert (out / "model.safetensors").exists()
    assert after.encode(["good dress"]).shape == before.encode(["good dress"]).shape
    changed = [
        not torch.equal(a, b)
        for a, b in zip(
            after[0].auto_model.parameters(), before[0].auto_model.parameters(), strict=True
        )
    ]
    assert any(changed)


def test_pretraining_repeats_exactly_with_the_same_seed(tiny_base: str, tmp_path: Path) -> None:
    first = pretrain_masked_lm(_texts(), tiny_base, tmp_path / "a", _quick(epochs=1))
    second = pretrain_masked_lm(_texts(), tiny_base, tmp_path / "b", _quick(epochs=1))
    assert first["history"] == second["history"]
    weights = [(tmp_path / name / "model.safetensors").read_bytes() for name in ("a", "b")]
    assert weights[0] == weights[1]


def test_a_second_run_replaces_the_folder_and_bad_input_leaves_it(
    tiny_base: str, tmp_path: Path
) -> None:
    out = tmp_path / "pretrained"
    pretrain_masked_lm(_texts(), tiny_base, out, _quick(epochs=1))
    pretrain_masked_lm(_texts(40), tiny_base, out, _quick(epochs=1))
    assert json.loads((out / MANIFEST).read_text())["texts"] == 40
    kept = (out / "model.safetensors").read_bytes()

    with pytest.raises(PretrainDataError, match="row 2: text must be a string, got int"):
        pretrain_masked_lm(["good dress", "bad fit", 3], tiny_base, out, _quick())  # type: ignore[list-item]
    assert (out / "model.safetensors").read_bytes() == kept


def test_few_texts_hold_none_out_and_keep_the_last_epoch(tiny_base: str, tmp_path: Path) -> None:
    report = pretrain_masked_lm(_texts(12), tiny_base, tmp_path / "p", _quick(epochs=2))
    assert report["valid_texts"] == 0
    assert [h["valid_loss"] for h in report["history"]] == [None, None]
    assert report["kept_epoch"] == 2


def test_the_epoch_kept_is_the_lowest_validation_loss() -> None:
    history = [
        {"epoch": 1, "valid_loss": 3.0},
        {"epoch": 2, "valid_loss": 2.5},
        {"epoch": 3, "valid_loss": 2.7},
    ]
    assert kept_epoch(history) == 2


def test_texts_are_trimmed_blank_rows_dropped_and_bad_rows_named() -> None:
    assert check_pretrain_texts([" good dress ", "", "  ", "bad fit"]) == ["good dress", "bad fit"]
    with pytest.raises(PretrainDataError, match="got one string"):
        check_pretrain_texts("good dress")
    with pytest.raises(PretrainDataError, match="at least 2 non-empty texts, got 1"):
        check_pretrain_texts(["good dress", " "])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 0}, "epochs >= 1"),
        ({"mask_probability": 1.0}, "mask probability"),
        ({"encoder_lr": 0.0}, "learning rates"),
        ({"valid_fraction": 1.0}, "fractions"),
    ],
)
def test_settings_out_of_range_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MaskedLmConfig(**changes)
