"""Parsing helpers the evaluation commands share (kept light: no Engine, no torch)."""

from __future__ import annotations


def comma_list(text: str) -> list[str]:
    """``"lora, full,"`` -> ``["lora", "full"]``: names from a comma-separated option."""
    return [name.strip() for name in text.split(",") if name.strip()]
