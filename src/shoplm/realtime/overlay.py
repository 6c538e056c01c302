"""Lay items that arrived after a fit over that fit, giving a live ``FittedPlatform``.

The fit stays untouched (other snapshots and the saved folder still use it); the live
snapshot is a shallow copy whose catalog, embeddings, indexes and models also cover the
overlay: new items get rows after the fitted ones, a changed item keeps its row with its new
text, a deleted item's row is masked out of search.  Building one costs a copy of the
embedding matrix, so it runs once per batch of upserts, never per request.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from shoplm.fitted import CatalogArrays, FittedPlatform
from shoplm.index.lexical import lexical_fields
from shoplm.realtime.live_index import LiveLexicalIndex, LiveVectorIndex
from shoplm.realtime.live_models import live_model
from shoplm.schema import Item


@dataclass
class OverlayEntry:
    """An item stored after the fit, with its text vector (L2-normalised)."""

    item: Item
    vector: np.ndarray
    arrived_at: float


@dataclass
class PlatformOverlay:
    """What changed in one platform's catalog since its fit."""

    entries: dict[str, OverlayEntry] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.entries or self.deleted)

    def copy(self) -> PlatformOverlay:
        """Writers change a copy and swap it in, so readers never see one half-changed."""
        return PlatformOverlay(dict(self.entries), set(self.deleted))


def compose(base: FittedPlatform, overlay: PlatformOverlay) -> FittedPlatform:
    """A live snapshot of ``base`` with ``overlay`` applied (``base`` itself if none)."""
    if not overlay:
        return base
    n_base = base.n_items
    changed = [(base.item_index[i], e) for i, e in overlay.entries.items() if i in base.item_index]
    new = [e for i, e in overlay.entries.items() if i not in base.item_index]
    deleted_rows = sorted(base.item_index[i] for i in overlay.deleted if i in base.item_index)
    n_items = n_base + len(new)

    embeddings = np.empty((n_items, base.embeddings.shape[1]), dtype=np.float32)
    embeddings[:n_base] = base.embeddings
    for row, entry in changed:
        embeddings[row] = entry.vector
    for offset, entry in enumerate(new):
        embeddings[n_base + offset] = entry.vector

    changed_rows = np.array([row for row, _ in changed], dtype=np.int64)
    new_rows = np.arange(n_base, n_items, dtype=np.int64)
    overlay_rows = np.concatenate([changed_rows, new_rows])
    overlay_items = [e.item for _, e in changed] + [e.item for e in new]
    masked_rows = np.union1d(changed_rows, np.array(deleted_rows, dtype=np.int64))

    snapshot = copy.copy(base)
    snapshot.catalog = _live_catalog(base.catalog, changed, new)
    snapshot.embeddings = embeddings
    snapshot.vector_index = LiveVectorIndex(
        base.vector_index, n_items, masked_rows, overlay_rows, embeddings[overlay_rows]
    )
    snapshot.lexical_index = LiveLexicalIndex(
        base.lexical_index,
        n_items,
        masked_rows,
        overlay_rows,
        [lexical_fields(item) for item in overlay_items],
    )
    snapshot.models = {
        name: live_model(model, n_items, embeddings) for name, model in base.models.items()
    }
    snapshot.item_index = dict(base.item_index)
    for offset, entry in enumerate(new):
        snapshot.item_index[entry.item.item_id] = n_base + offset
    snapshot.live_base = base  # type: ignore[attr-defined]
    snapshot.live_new_rows = new_rows  # type: ignore[attr-defined]
    snapshot.live_deleted_rows = np.array(deleted_rows, dtype=np.int64)  # type: ignore[attr-defined]
    return snapshot


def _live_catalog(
    catalog: CatalogArrays, changed: list[tuple[int, OverlayEntry]], new: list[OverlayEntry]
) -> CatalogArrays:
    live = copy.copy(catalog)
    new_items = [e.item for e in new]
    fresh = CatalogArrays.from_items(new_items) if new_items else None
    live.item_ids = catalog.item_ids + [item.item_id for item in new_items]
    for name in ("brands", "categories", "prices"):
        column = getattr(catalog, name)
        if fresh is not None:
            column = np.concatenate([column, getattr(fresh, name)])
        else:
            column = column.copy()
        if changed:
            updated = CatalogArrays.from_items([e.item for _, e in changed])
            for position, (row, _) in enumerate(changed):
                column[row] = getattr(updated, name)[position]
        setattr(live, name, column)
    return live
