"""Structured filters a shopper or a shop applies on top of a query."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field, model_validator

from shoplm.fitted import CatalogArrays
from shoplm.schema import CATEGORY_SEPARATOR


class SearchFilters(BaseModel):
    """Keep only items matching every given constraint."""

    brands: list[str] = Field(default_factory=list, description="any of these brands")
    category: str | None = Field(
        default=None, description="category path prefix, e.g. 'Electronics > Phones'"
    )
    min_price: float | None = Field(default=None, ge=0)
    max_price: float | None = Field(default=None, ge=0)
    item_ids: list[str] = Field(
        default_factory=list,
        description="search only within these items (a collection, or judged candidates)",
    )

    @model_validator(mode="after")
    def _price_range(self) -> SearchFilters:
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ValueError("min_price must not exceed max_price")
        return self

    def is_empty(self) -> bool:
        return not (
            self.brands
            or self.category
            or self.item_ids
            or self.min_price is not None
            or self.max_price is not None
        )

    def mask(self, catalog: CatalogArrays) -> np.ndarray:
        """Boolean mask over item rows; computed once per query, used inside the indexes."""
        keep = np.ones(len(catalog.item_ids), dtype=bool)
        if self.brands:
            wanted = {b.lower() for b in self.brands}
            keep &= np.fromiter((b in wanted for b in catalog.brands), bool, len(keep))
        if self.category:
            prefix = CATEGORY_SEPARATOR.join(
                part.strip() for part in self.category.split(">") if part.strip()
            ).lower()
            keep &= np.fromiter(
                (
                    c.lower() == prefix or c.lower().startswith(prefix + CATEGORY_SEPARATOR.lower())
                    for c in catalog.categories
                ),
                bool,
                len(keep),
            )
        if self.item_ids:
            wanted_ids = set(self.item_ids)
            keep &= np.fromiter((i in wanted_ids for i in catalog.item_ids), bool, len(keep))
        with np.errstate(invalid="ignore"):
            if self.min_price is not None:
                keep &= catalog.prices >= self.min_price
            if self.max_price is not None:
                keep &= catalog.prices <= self.max_price
        return keep
