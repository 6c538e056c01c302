"""Wrap a model with peft without the deprecation warning peft's own code raises.

peft (0.21) probes ``model.is_gradient_checkpointing`` whenever it wraps a model, and
transformers (5.x) warns on every read of that property.  The warning is about peft's code,
not the user's, and printed on every ``shoplm heads train`` and ``shoplm finetune``; each
wrap runs inside :func:`peft_wrapping`, which hides that one message and nothing else.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

PEFT_PROBE_WARNING = r"`is_gradient_checkpointing` is deprecated"


@contextmanager
def peft_wrapping() -> Iterator[None]:
    """Hide transformers' FutureWarning about peft's gradient-checkpointing probe."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=PEFT_PROBE_WARNING, category=FutureWarning)
        yield


__all__ = ["peft_wrapping"]
