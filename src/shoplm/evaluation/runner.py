"""Offline evaluation that drives the Engine exactly as a shop would.

Each run builds a throw-away engine home, ingests the training part of a dataset through the
normal store, fits with the normal ``fit`` and asks the normal ``rank_users`` / ``search``.
Only the item embeddings are shared between runs (an on-disk cache keyed by model and text),
so a 54k-title catalog is encoded once per machine, not once per run.

The result is one JSON-able dict, the output contract of ``shoplm evaluate``:
``{"task", "dataset", "protocol", "n_users" | "n_queries", "seconds", "metrics": {...}}``.
This module holds what both tasks share; ``recommend_eval`` and ``search_eval`` hold each
task's protocol.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from shoplm.engine import Engine
from shoplm.schema import Event, EventType

Progress = Callable[[str], None]


def say_on_stderr(message: str) -> None:
    """The progress printer of the evaluation commands (stdout stays for results)."""
    print(f"[shoplm] {message}", file=sys.stderr, flush=True)


def embedding_cache_path() -> Path:
    """One embedding cache per machine: $SHOPLM_CACHE_DIR, else ~/.cache/shoplm."""
    root = Path(os.environ.get("SHOPLM_CACHE_DIR") or Path.home() / ".cache" / "shoplm")
    root.mkdir(parents=True, exist_ok=True)
    return root / "embeddings.sqlite"


def open_temp_engine(
    workdir: str,
    show_progress: bool,
    encoder: dict | None = None,
    embedding_cache: Path | None = None,
) -> Engine:
    """A throw-away engine; ``encoder`` overrides settings.

    Vectors go to ``embedding_cache`` when given (a tuned model's, thrown away with its run),
    else to the machine's cache, where the next run finds them.
    """
    overrides = {"encoder": encoder} if encoder else {}
    return Engine.open(
        Path(workdir) / "home",
        embedding_cache=embedding_cache or embedding_cache_path(),
        show_progress=show_progress,
        **overrides,
    )


def seeded_sample(keys: Sequence[str], limit: int | None, seed: int) -> list[str]:
    """A seeded random subset (all keys when ``limit`` is None or large enough), sorted."""
    keys = sorted(keys)
    if limit is None or limit >= len(keys):
        return keys
    return sorted(random.Random(seed).sample(keys, limit))


def training_events(
    sequences: dict[str, list[str]], times: dict[str, list[float]] | None
) -> list[Event]:
    """Training sequences as purchase events; positions stand in for missing times."""
    events = []
    for user_id, item_ids in sequences.items():
        stamps = times[user_id] if times else range(len(item_ids))
        for item_id, stamp in zip(item_ids, stamps, strict=True):
            events.append(
                Event(
                    user_id=user_id,
                    item_id=item_id,
                    type=EventType.PURCHASE,
                    timestamp=float(stamp),
                )
            )
    return events
