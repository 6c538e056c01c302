"""An exponential moving average of a head's trainable weights (adapter and output layer).

Validation and the kept head then use the average instead of the last step's weights: the
average smooths out the step-to-step noise of small batches, which on a few thousand
validation rows otherwise decides which checkpoint wins as much as the training does.  The
raw weights keep training as they would without it, so a run with the average follows the
same path as one without and only what is scored differs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

# The first updates lean on the newest weights, not on the untrained start: the decay
# used is min(decay, (1 + n) / (WARMUP + n)) after n updates.
WARMUP = 10


class WeightAverage:
    """Shadow copies of ``params`` pulled towards them after every optimiser step."""

    def __init__(self, params: Sequence[nn.Parameter], decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the averaging decay must be in (0, 1), got {decay}")
        self.params = list(params)
        self.decay = decay
        self.updates = 0
        self.shadow = [p.detach().clone() for p in self.params]

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (WARMUP + self.updates))

    def update(self) -> None:
        """Move the average towards the weights as they are after this step."""
        self.updates += 1
        weight = 1.0 - self.current_decay()
        with torch.no_grad():
            for average, param in zip(self.shadow, self.params, strict=True):
                average.lerp_(param.detach(), weight)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The averaged weights in the model for the block, the raw ones back after it."""
        with torch.no_grad():
            raw = [p.detach().clone() for p in self.params]
            for param, average in zip(self.params, self.shadow, strict=True):
                param.copy_(average)
        try:
            yield
        finally:
            with torch.no_grad():
                for param, value in zip(self.params, raw, strict=True):
                    param.copy_(value)

    def keep(self) -> None:
        """Leave the averaged weights in the model for good (a run that scores nothing)."""
        with torch.no_grad():
            for param, average in zip(self.params, self.shadow, strict=True):
                param.copy_(average)
