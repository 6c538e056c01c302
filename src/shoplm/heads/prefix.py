"""Token states after the frozen bottom blocks, computed once per text and kept for training.

With LoRA on the top N blocks only, the bottom blocks give every text the same output in
every epoch, so running them once saves most of a CPU epoch.  States are kept as float16
(half the memory; they are inputs to the trained blocks, not trained themselves).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from shoplm.heads.batches import collate, inference_batches

PROGRESS_ABOVE = 256


class SplitNet(Protocol):
    """A module whose forward pass is split at its frozen blocks (``HeadNet``, or the
    fine-tuned encoder's ``SplitEncoder``)."""

    training: bool

    def prefix(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor: ...

    def forward_from_prefix(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor: ...

    def eval(self) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...


class PrefixStates:
    """Every text's ``[tokens, dim]`` float16 states in one flat buffer, batched on demand.

    One buffer (rather than a tensor per text) keeps the allocator from fragmenting memory.
    """

    def __init__(self, buffer: torch.Tensor, lengths: Sequence[int]) -> None:
        self.buffer = buffer
        self.lengths = [int(n) for n in lengths]
        self.starts = _starts(self.lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    def state(self, row: int) -> torch.Tensor:
        start = int(self.starts[row])
        return self.buffer[start : start + self.lengths[row]]

    @classmethod
    def compute(
        cls,
        net: SplitNet,
        tokenizer: Any,
        ids: Sequence[list[int]],
        batch_size: int,
        device: torch.device,
        show_progress: bool = False,
    ) -> PrefixStates:
        lengths = [len(r) for r in ids]
        starts = _starts(lengths)
        buffer: torch.Tensor | None = None
        bar = tqdm(
            total=len(ids),
            desc="frozen blocks",
            unit="text",
            file=sys.stderr,
            disable=not (show_progress and len(ids) > PROGRESS_ABOVE),
        )
        was_training = net.training
        net.eval()
        with torch.inference_mode():
            for rows in inference_batches(lengths, batch_size):
                batch = collate(tokenizer, [ids[i] for i in rows], device)
                hidden = net.prefix(**batch).to("cpu", torch.float16)
                if buffer is None:
                    buffer = torch.empty((sum(lengths), hidden.shape[2]), dtype=torch.float16)
                for k, row in enumerate(rows):
                    start = int(starts[row])
                    buffer[start : start + lengths[row]] = hidden[k, : lengths[row]]
                bar.update(len(rows))
        bar.close()
        net.train(was_training)
        if buffer is None:
            buffer = torch.empty((0, 0), dtype=torch.float16)
        return cls(buffer, lengths)

    def batch(
        self, rows: Sequence[int] | np.ndarray, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden ``[b, width, dim]`` float32, attention mask ``[b, width]``) of these rows."""
        width = max(self.lengths[i] for i in rows)
        dim = self.buffer.shape[1]
        hidden = torch.zeros((len(rows), width, dim), dtype=torch.float32)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for k, i in enumerate(rows):
            n = self.lengths[i]
            hidden[k, :n] = self.state(i).float()
            mask[k, :n] = 1
        return hidden.to(device), mask.to(device)

    def outputs(self, net: SplitNet, batch_size: int, device: torch.device) -> np.ndarray:
        """``net``'s outputs from every row's states, in row order (no gradient)."""
        out: list[np.ndarray] = [np.empty(0)] * len(self)
        with torch.inference_mode():
            for rows in inference_batches(self.lengths, batch_size):
                result = net.forward_from_prefix(*self.batch(rows, device)).float().cpu()
                for k, row in enumerate(rows):
                    out[row] = result[k].numpy()
        return np.stack(out).astype(np.float32, copy=False)


def _starts(lengths: Sequence[int]) -> np.ndarray:
    """Where each text's states begin in the flat buffer."""
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
