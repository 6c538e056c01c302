"""Base models shared by the heads a home serves: one copy of the frozen weights per base.

Every head adapts the same base encoder (a LoRA adapter, or none for a probe), and the base's
weights never change while heads predict.  Loading each head with its own copy of the base
costs the whole model (about 90 MB for MiniLM-L6) per head; here each head gets its own
module tree (so one head's adapter layers never reach another's) whose weight tensors are the
one cached copy.  The cache is keyed by the base's stable id, so a base folder whose files
changed on disk is loaded afresh.

Shared weights must stay read-only: nothing here merges an adapter into them (exporting a
head's encoder loads a private copy).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable

from torch import nn

from shoplm.heads.model import Base, load_base
from shoplm.text.encoder import stable_model_id


def share_weights(module: nn.Module) -> nn.Module:
    """A new module tree of the same architecture whose parameters and buffers are the
    given module's own objects (nothing is copied but the small Python objects).

    The parameter objects themselves are shared, not only their storage: moving one head to
    a GPU moves the shared weights once, and every head on that base reads them there."""
    memo: dict[int, object] = {id(p): p for p in module.parameters()}
    memo.update({id(b): b for b in module.buffers()})
    return copy.deepcopy(module, memo)


class SharedBases:
    """Loaded base models by name and id; ``get`` hands out weight-sharing twins."""

    def __init__(self) -> None:
        self._loaded: dict[str, Base] = {}
        self._lock = threading.Lock()

    def get(self, model: str) -> Base:
        """A base for one head: its own module tree and tokenizer, the shared weights."""
        model_id = stable_model_id(model)
        with self._lock:
            cached = self._loaded.get(model)
            if cached is None or cached.model_id != model_id:
                cached = load_base(model, model_id)  # a changed folder replaces the old copy
                self._loaded[model] = cached
        return Base(
            copy.deepcopy(cached.tokenizer),  # its padding state is per call: one per head
            share_weights(cached.encoder),
            cached.dim,
            cached.model_id,
        )

    @property
    def models(self) -> set[str]:
        """The bases held, by the name heads asked for them by."""
        with self._lock:
            return set(self._loaded)

    def retain(self, models: Iterable[str]) -> None:
        """Drop every base not named in ``models``: once no head uses a base, its weights can
        go (the heads still alive hold their own references to what they share)."""
        keep = set(models)
        with self._lock:
            for model in set(self._loaded) - keep:
                del self._loaded[model]


__all__ = ["SharedBases", "share_weights"]
