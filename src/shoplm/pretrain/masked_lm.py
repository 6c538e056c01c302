"""Continued masked-language-model pretraining of the base encoder on the shop's own text.

Why: the bundled MiniLM learnt its words from web text and sentence pairs, while a shop's
reviews and titles have their own ("runs small", "true to size", "3/4 in. x 10 ft.").
Task-adaptive pretraining (Gururangan et al., 2020, "Don't Stop Pretraining") trains the
encoder a little longer on the task's own unlabelled texts before any fine-tuning.

A sentence-transformers folder keeps no masked-LM head, so one is built from the transformer's
configuration with its output layer tied to the word embeddings: only the small transform
layer and the output bias start at random, and they learn at ``head_lr`` while the encoder
learns at ``encoder_lr``.  Validation is the masked-token loss on held-out texts with masks
fixed once; the epoch that scores lowest is kept.  The result is a sentence-transformers
folder (safetensors weights, its pooling unchanged) that ``--base-model`` and the
``encoder.model`` setting take like any other local model.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shoplm.finetune.model import load_sentence_model, pick_device
from shoplm.finetune.steps import schedule, seed_all
from shoplm.folders import replaced_whole
from shoplm.heads.batches import training_batches
from shoplm.text.encoder import stable_model_id

MANIFEST = "pretrain.json"
MIN_VALID_TEXTS = 20  # below this many held-out texts the loss is noise: keep the last epoch
Progress = Callable[[str], None]


class PretrainDataError(ValueError):
    """The texts cannot be pretrained on; the message names the row."""


@dataclass(frozen=True)
class MaskedLmConfig:
    """How long and how fast the encoder keeps pretraining (defaults: one epoch at the
    fine-tuning rates BERT-style models take; ``head_lr`` is for the fresh MLM head)."""

    epochs: int = 1
    batch_size: int = 16
    max_seq_length: int = 160
    mask_probability: float = 0.15
    encoder_lr: float = 5e-5
    head_lr: float = 1e-3
    warmup_fraction: float = 0.06
    valid_fraction: float = 0.05
    max_valid: int = 1000
    seed: int = 42
    device: str | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.max_seq_length < 8:
            raise ValueError(
                "pretraining needs epochs >= 1, batch size >= 1 and max sequence length >= 8"
            )
        if not 0.0 < self.mask_probability < 1.0:
            raise ValueError(f"mask probability must be in (0, 1), got {self.mask_probability}")
        if self.encoder_lr <= 0 or self.head_lr <= 0:
            raise ValueError("learning rates must be positive")
        if not 0.0 <= self.warmup_fraction < 1.0 or not 0.0 <= self.valid_fraction < 1.0:
            raise ValueError("warm-up and validation fractions must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_pretrain_texts(texts: Sequence[str]) -> list[str]:
    """The texts with their surrounding space trimmed; a non-string row is an error naming
    it, and empty rows are dropped (they teach nothing)."""
    if isinstance(texts, str):
        raise PretrainDataError("expected a sequence of texts, got one string")
    kept: list[str] = []
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise PretrainDataError(f"row {row}: text must be a string, got {type(text).__name__}")
        if text.strip():
            kept.append(text.strip())
    if len(kept) < 2:
        raise PretrainDataError(f"pretraining needs at least 2 non-empty texts, got {len(kept)}")
    return kept


def texts_hash(texts: Sequence[str]) -> str:
    """A short content hash of the texts, in order: which text a pretrained folder saw."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


def pretrain_masked_lm(
    texts: Sequence[str],
    base: str,
    out: str | Path,
    config: MaskedLmConfig | None = None,
    show_progress: bool = False,
    say: Progress | None = None,
) -> dict[str, Any]:
    """Pretrain ``base`` (bundled name or local sentence-transformers folder) on ``texts`` by
    masked-token prediction and write the kept encoder to ``out``.

    ``out`` is replaced only once the new folder is complete: a failed run leaves what was
    there.  Returns the report also stored as ``out/pretrain.json``."""
    import torch
    from tqdm import tqdm

    config = config or MaskedLmConfig()
    say = say or (lambda _message: None)
    texts = check_pretrain_texts(texts)
    started = time.perf_counter()
    seed_all(config.seed)
    device = pick_device(config.device)
    st_model = load_sentence_model(base, device)
    transformer, tokenizer = st_model[0].auto_model, st_model.tokenizer
    mlm = masked_lm_for(transformer).to(device)

    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(texts))
    n_valid = min(config.max_valid, round(len(texts) * config.valid_fraction))
    n_valid = n_valid if n_valid >= MIN_VALID_TEXTS else 0
    valid_ids = _token_ids(tokenizer, [texts[i] for i in order[:n_valid]], config.max_seq_length)
    train_ids = _token_ids(tokenizer, [texts[i] for i in order[n_valid:]], config.max_seq_length)
    lengths = [len(ids) for ids in train_ids]
    per_epoch = -(-len(train_ids) // config.batch_size)
    total = per_epoch * config.epochs
    warmup = int(total * config.warmup_fraction)
    collate = _collator(tokenizer, config.mask_probability, config.seed)
    valid_batches = _fixed_valid_batches(tokenizer, valid_ids, config)

    prefix = mlm.base_model_prefix
    encoder_params = [p for n, p in mlm.named_parameters() if n.startswith(prefix)]
    head_params = [p for n, p in mlm.named_parameters() if not n.startswith(prefix)]
    optimiser = torch.optim.AdamW(
        [
            {"params": encoder_params, "lr": config.encoder_lr},
            {"params": head_params, "lr": config.head_lr},
        ],
        weight_decay=0.01,
    )
    lr_schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: schedule(step, warmup, total)
    )
    say(
        f"pretraining {Path(base).name or base} on {len(train_ids)} texts "
        f"({n_valid} held out): {config.epochs} epoch(s) of {per_epoch} steps"
    )
    bar = tqdm(
        total=total, desc="masked-LM", unit="step", file=sys.stderr, disable=not show_progress
    )
    history: list[dict[str, Any]] = []
    best_loss, best_state, step = float("inf"), None, 0
    for epoch in range(1, config.epochs + 1):
        mlm.train()
        epoch_loss, epoch_steps = 0.0, 0
        for rows in training_batches(lengths, config.batch_size, rng):
            batch = collate([{"input_ids": train_ids[i]} for i in rows])
            step += 1
            bar.update(1)
            if bool((batch["labels"] != -100).any()):  # a few short texts may draw no mask
                loss = mlm(**{k: v.to(device) for k, v in batch.items()}).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(mlm.parameters(), 1.0)
                optimiser.step()
                optimiser.zero_grad(set_to_none=True)
                epoch_loss, epoch_steps = epoch_loss + loss.item(), epoch_steps + 1
                bar.set_postfix(loss=f"{loss.item():.3f}")
            lr_schedule.step()
        train_loss = epoch_loss / max(1, epoch_steps)  # the epoch's mean
        valid_loss = _masked_loss(mlm, valid_batches, device) if valid_batches else None
        history.append(
            {
                "epoch": epoch,
                "step": step,
                "train_loss": round(train_loss, 4),
                "valid_loss": None if valid_loss is None else round(valid_loss, 4),
            }
        )
        say(
            f"masked-LM epoch {epoch}: training loss {train_loss:.4f}, validation "
            + ("-" if valid_loss is None else f"{valid_loss:.4f}")
        )
        if valid_loss is None or valid_loss < best_loss:
            best_loss = valid_loss if valid_loss is not None else best_loss
            best_state = copy.deepcopy(mlm.base_model.state_dict())
        else:
            say(f"masked-LM: validation rose at epoch {epoch}; keeping epoch {epoch - 1}")
            break
    bar.close()
    assert best_state is not None  # the first epoch always sets it
    transformer.load_state_dict(best_state, strict=False)  # the pooler, if any, is kept
    report = {
        "base_model": base,
        "base_model_id": stable_model_id(base),
        "texts": len(texts),
        "texts_hash": texts_hash(texts),
        "train_texts": len(train_ids),
        "valid_texts": n_valid,
        "config": config.to_dict(),
        "history": history,
        "kept_epoch": kept_epoch(history),
        "steps": step,
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_model_folder(st_model, Path(out), report)
    return report


def masked_lm_for(transformer: Any) -> Any:
    """A masked-LM model of the transformer's architecture holding its weights, the output
    layer tied to the word embeddings (the new head's transform starts at random)."""
    from transformers import AutoModelForMaskedLM

    try:
        mlm = AutoModelForMaskedLM.from_config(copy.deepcopy(transformer.config))
    except ValueError as exc:
        kind = getattr(transformer.config, "model_type", "?")
        raise ValueError(f"model type {kind!r} has no masked-LM form in transformers") from exc
    result = mlm.base_model.load_state_dict(transformer.state_dict(), strict=False)
    if result.missing_keys:
        raise ValueError(f"the encoder has no weights for {result.missing_keys[:5]}")
    mlm.tie_weights()
    output, words = mlm.get_output_embeddings(), mlm.get_input_embeddings()
    if output.weight is not words.weight and output.weight.shape == words.weight.shape:
        output.weight.data.copy_(words.weight.data)  # untied models start from the words too
    return mlm


def write_model_folder(st_model: Any, out: Path, report: dict[str, Any]) -> None:
    """Save the sentence-transformers model and its report, replacing ``out`` only once both
    are written (:func:`shoplm.folders.replaced_whole`)."""
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a one-file "writing shards" bar says nothing
    try:
        with replaced_whole(out) as fresh:
            st_model.save(str(fresh), safe_serialization=True)
            (fresh / MANIFEST).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()


def _token_ids(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    if not texts:
        return []
    return tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]


def _collator(tokenizer: Any, probability: float, seed: int) -> Any:
    """BERT's masking: of the chosen tokens 80% become [MASK], 10% a random token, 10% stay."""
    from transformers import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(tokenizer, mlm_probability=probability, seed=seed)


def _fixed_valid_batches(
    tokenizer: Any, valid_ids: list[list[int]], config: MaskedLmConfig
) -> list[dict[str, Any]]:
    """Validation batches masked once (their own seed), so every epoch is scored alike."""
    collate = _collator(tokenizer, config.mask_probability, config.seed + 1)
    size = config.batch_size * 2
    return [
        collate([{"input_ids": ids} for ids in valid_ids[i : i + size]])
        for i in range(0, len(valid_ids), size)
    ]


def _masked_loss(mlm: Any, batches: list[dict[str, Any]], device: str) -> float:
    """Mean cross-entropy over every masked token of the validation batches."""
    import torch

    mlm.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            masked = int((batch["labels"] != -100).sum())
            if masked == 0:
                continue
            loss = mlm(**{k: v.to(device) for k, v in batch.items()}).loss
            total += float(loss) * masked
            count += masked
    return total / max(1, count)


def kept_epoch(history: list[dict[str, Any]]) -> int:
    scored = [h for h in history if h["valid_loss"] is not None]
    if not scored:
        return history[-1]["epoch"]
    return min(scored, key=lambda h: h["valid_loss"])["epoch"]


__all__ = [
    "MANIFEST",
    "MaskedLmConfig",
    "PretrainDataError",
    "check_pretrain_texts",
    "kept_epoch",
    "masked_lm_for",
    "pretrain_masked_lm",
    "texts_hash",
    "write_model_folder",
]
