"""Checks shared by the indexes: both address items by the same integer rows."""

from __future__ import annotations

import numpy as np


def row_mask(allowed: np.ndarray, size: int) -> np.ndarray:
    """``allowed`` as a bool mask over ``size`` rows, or a ValueError saying what it is."""
    mask = np.asarray(allowed)
    if mask.dtype != np.bool_ or mask.shape != (size,):
        raise ValueError(
            f"allowed must be a bool mask of shape ({size},), got {mask.dtype} {mask.shape}"
        )
    return mask
