"""Parsing helpers the evaluation commands share (kept light: no Engine, no torch)."""

from __future__ import annotations

import argparse


def comma_list(text: str) -> list[str]:
    """``"lora, full,"`` -> ``["lora", "full"]``: names from a comma-separated option."""
    return [name.strip() for name in text.split(",") if name.strip()]


def float_list(text: str) -> list[float]:
    """``"0.5, 0.75"`` -> ``[0.5, 0.75]``; a part that is no number is an argparse error."""
    try:
        return [float(part) for part in comma_list(text)]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers: {error}") from None
