"""Fine-tuning only the top blocks: the frozen bottom runs once per text, not once per step.

With LoRA on the top N blocks, every text a run touches (the items of its pairs, its
queries, its validation corpus) gives the same bottom-block states all run long.  They are
computed once (float16, in one buffer) and each step, and each validation, runs only the
adapted top blocks from them; on a CPU that is most of the work of a step saved.

This needs the sentence-transformers pipeline to be a BERT-style transformer followed by
mean pooling (and optionally normalisation), as all-MiniLM-L6-v2 is; any other pipeline
trains through its own forward pass instead (:func:`why_not_split` says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from shoplm.finetune.data import TrainingData
from shoplm.heads.batches import inference_batches, tokenize
from shoplm.heads.prefix import PrefixStates
from shoplm.text.blocks import bottom_states, can_split, mean_pool, run_blocks

INFERENCE_BATCH = 64


class SplitEncoder(nn.Module):
    """The sentence encoder cut at its frozen blocks: ``prefix`` below, the rest above."""

    def __init__(self, transformer: nn.Module, frozen_blocks: int) -> None:
        super().__init__()
        self.transformer = transformer
        self.frozen_blocks = frozen_blocks
        self.train(transformer.training)  # a new module says "training": keep the model's mode

    def prefix(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return bottom_states(self.transformer, input_ids, attention_mask, self.frozen_blocks)

    def forward_from_prefix(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Unit sentence vectors: the top blocks, then mean pooling (as the pipeline does)."""
        top = run_blocks(self.transformer, hidden, attention_mask, self.frozen_blocks, None)
        return mean_pool(top, attention_mask)


def why_not_split(st_model: Any) -> str | None:
    """None when the pipeline is transformer -> mean pooling [-> normalise]; else the reason."""
    modules = list(st_model)
    kinds = [type(m).__name__ for m in modules]
    if len(modules) < 2 or kinds[1] != "Pooling" or any(k != "Normalize" for k in kinds[2:]):
        return f"the pipeline is {' -> '.join(kinds)}, not Transformer -> Pooling [-> Normalize]"
    transformer = getattr(modules[0], "auto_model", None)
    if transformer is None or not can_split(transformer):
        return "its transformer cannot run block by block"
    mode = getattr(modules[1], "pooling_mode", None)
    if mode not in ("mean", ["mean"], ("mean",)):
        return f"it pools with {mode!r}, not the mean"
    return None


class CachedPrefix:
    """Bottom-block states of a fixed set of texts; sentence vectors from the top blocks."""

    def __init__(
        self,
        st_model: Any,
        frozen_blocks: int,
        texts: Sequence[str],
        max_seq_length: int,
        device: str,
        show_progress: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.split = SplitEncoder(st_model[0].auto_model, frozen_blocks)
        self.row = {text: i for i, text in enumerate(dict.fromkeys(texts))}
        tokenizer = st_model.tokenizer
        # The pipeline strips each text before tokenising; so must the cache.
        ids = tokenize(tokenizer, [t.strip() for t in self.row], max_seq_length)
        self.states = PrefixStates.compute(
            self.split, tokenizer, ids, INFERENCE_BATCH, self.device, show_progress
        )

    def covers(self, texts: Sequence[str]) -> bool:
        return all(text in self.row for text in texts)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit vectors [len(texts), dim] with gradients through the adapted top blocks."""
        rows = [self.row[text] for text in texts]
        return self.split.forward_from_prefix(*self.states.batch(rows, self.device))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors as float32 numpy, no gradient, dropout off (validation)."""
        rows = [self.row[text] for text in texts]
        out = np.empty((len(rows), self.states.buffer.shape[1]), dtype=np.float32)
        was_training = self.split.transformer.training
        self.split.eval()
        try:
            with torch.inference_mode():
                lengths = [self.states.lengths[r] for r in rows]
                for chunk in inference_batches(lengths, INFERENCE_BATCH):
                    batch = self.states.batch([rows[k] for k in chunk], self.device)
                    out[chunk] = self.split.forward_from_prefix(*batch).float().cpu().numpy()
        finally:
            self.split.train(was_training)
        return out


def item_ids_used(data: TrainingData, held_out: bool = False) -> list[str]:
    """Every item a pair, a validation anchor or the validation corpus names, each once
    (and the held-out pairs' items after them, for a refit)."""
    ids: list[str] = []
    for pair in data.pairs:
        ids.extend([*pair.anchor.item_ids, pair.positive, *pair.negatives])
    for case in data.valid:
        ids.extend(case.anchor.item_ids)
    ids.extend(data.valid_corpus)
    for pair in data.held_out if held_out else []:
        ids.extend([*pair.anchor.item_ids, pair.positive, *pair.negatives])
    return list(dict.fromkeys(ids))


def needed_texts(data: TrainingData, held_out: bool = False) -> list[str]:
    """Every text training and validation will encode, each once, in a stable order; with
    ``held_out``, a refit's texts too (appended, so the others keep their places)."""
    queries = [p.anchor.text for p in data.pairs if p.anchor.text is not None]
    queries += [c.anchor.text for c in data.valid if c.anchor.text is not None]
    items = [data.corpus[i] for i in item_ids_used(data)]
    extra: list[str] = []
    if held_out:
        extra = [p.anchor.text for p in data.held_out if p.anchor.text is not None]
        extra += [data.corpus[i] for i in item_ids_used(data, held_out=True)]
    return list(dict.fromkeys([*queries, *items, *extra]))
