"""What ``fit`` produces for one platform, saved and loaded as one unit.

A fit writes a fresh ``fit-<time>`` folder and then flips the ``current`` pointer file, so
readers never see a half-written model set and an older fit stays usable until the swap.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shoplm.folders import write_text_whole
from shoplm.graph.model import ItemGraph
from shoplm.index.lexical import LexicalIndex
from shoplm.index.vector import VectorIndex
from shoplm.recommend.base import Recommender
from shoplm.recommend.registry import load_model
from shoplm.schema import Item

POINTER = "current"
MANIFEST = "manifest.json"
KEEP_OLD_FITS = 2


@dataclass
class CatalogArrays:
    """Per-item-row fields that filters, features and explanations read without the store."""

    item_ids: list[str]
    brands: np.ndarray  # object array, lower-cased
    categories: np.ndarray  # object array, full path
    prices: np.ndarray  # float64, NaN when unknown

    @classmethod
    def from_items(cls, items: list[Item]) -> CatalogArrays:
        return cls(
            item_ids=[item.item_id for item in items],
            brands=np.array([item.brand.lower() for item in items], dtype=object),
            categories=np.array([item.category for item in items], dtype=object),
            prices=np.array(
                [np.nan if item.price is None else item.price for item in items], dtype=np.float64
            ),
        )


@dataclass
class FittedPlatform:
    """Models and indexes of one platform, all aligned on the same item rows."""

    platform: str
    catalog: CatalogArrays
    user_ids: list[str]
    encoder_id: str
    embeddings: np.ndarray  # float32 [n_items, dim], L2-normalised
    vector_index: VectorIndex
    lexical_index: LexicalIndex
    models: dict[str, Recommender]
    fitted_at: float = field(default_factory=time.time)
    graph: ItemGraph | None = None  # item graph for explanations, profiles, kg recall
    item_index: dict[str, int] = field(init=False, repr=False)
    user_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.item_index = {item_id: row for row, item_id in enumerate(self.catalog.item_ids)}
        self.user_index = {user_id: row for row, user_id in enumerate(self.user_ids)}

    @property
    def n_items(self) -> int:
        return len(self.catalog.item_ids)

    # -- persistence ---------------------------------------------------------------------
    def save(self, platform_dir: Path) -> Path:
        """Write a new fit folder, then atomically point ``current`` at it."""
        platform_dir.mkdir(parents=True, exist_ok=True)
        folder = platform_dir / f"fit-{time.time_ns()}"
        folder.mkdir()
        (folder / "catalog.json").write_text(
            json.dumps(
                {
                    "item_ids": self.catalog.item_ids,
                    "brands": self.catalog.brands.tolist(),
                    "categories": self.catalog.categories.tolist(),
                    "prices": [None if np.isnan(p) else p for p in self.catalog.prices],
                }
            )
        )
        (folder / "users.json").write_text(json.dumps(self.user_ids))
        np.save(folder / "embeddings.npy", self.embeddings, allow_pickle=False)
        self.vector_index.save(folder / "vector")
        self.lexical_index.save(folder / "lexical")
        for name, model in self.models.items():
            model.save(folder / "models" / name)
        if self.graph is not None:
            self.graph.save(folder / "graph")
        manifest = {
            "platform": self.platform,
            "encoder_id": self.encoder_id,
            "models": sorted(self.models),
            "fitted_at": self.fitted_at,
            "n_items": self.n_items,
            "n_users": len(self.user_ids),
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
        write_text_whole(platform_dir / POINTER, folder.name)
        _prune_old_fits(platform_dir, keep=folder.name)
        return folder

    @classmethod
    def load(cls, platform_dir: Path) -> FittedPlatform | None:
        """The current fit of a platform, or None if it was never fitted."""
        pointer = platform_dir / POINTER
        if not pointer.exists():
            return None
        folder = platform_dir / pointer.read_text().strip()
        manifest = json.loads((folder / MANIFEST).read_text())
        catalog_raw = json.loads((folder / "catalog.json").read_text())
        catalog = CatalogArrays(
            item_ids=catalog_raw["item_ids"],
            brands=np.array(catalog_raw["brands"], dtype=object),
            categories=np.array(catalog_raw["categories"], dtype=object),
            prices=np.array(
                [np.nan if p is None else p for p in catalog_raw["prices"]], dtype=np.float64
            ),
        )
        return cls(
            platform=manifest["platform"],
            catalog=catalog,
            user_ids=json.loads((folder / "users.json").read_text()),
            encoder_id=manifest["encoder_id"],
            embeddings=np.load(folder / "embeddings.npy", allow_pickle=False),
            vector_index=VectorIndex.load(folder / "vector"),
            lexical_index=LexicalIndex.load(folder / "lexical"),
            models={name: load_model(folder / "models" / name) for name in manifest["models"]},
            fitted_at=manifest["fitted_at"],
            graph=ItemGraph.load(folder / "graph") if (folder / "graph").exists() else None,
        )


def _prune_old_fits(platform_dir: Path, keep: str) -> None:
    """Keep the newest few fits (a reader may still hold the previous one open)."""
    fits = sorted(p for p in platform_dir.glob("fit-*") if p.is_dir() and p.name != keep)
    for old in fits[: max(0, len(fits) - (KEEP_OLD_FITS - 1))]:
        shutil.rmtree(old, ignore_errors=True)
