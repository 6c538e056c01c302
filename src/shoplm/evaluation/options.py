"""Parsing helpers the evaluation commands share (kept light: no Engine, no torch)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def comma_list(text: str) -> list[str]:
    """``"lora, full,"`` -> ``["lora", "full"]``: names from a comma-separated option."""
    return [name.strip() for name in text.split(",") if name.strip()]


def float_list(text: str) -> list[float]:
    """``"0.5, 0.75"`` -> ``[0.5, 0.75]``; a part that is no number is an argparse error."""
    try:
        return [float(part) for part in comma_list(text)]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers: {error}") from None


def parse_model_params(text: str) -> dict[str, dict[str, Any]]:
    """``'{"sasrec-text": {"text_vectors": "home"}}'`` -> each named model's parameters
    (``recommend.params`` of a home); anything else is an argparse error saying what."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"--params is not JSON: {error}") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
        raise argparse.ArgumentTypeError(
            "--params must map model names to their parameters, e.g. "
            '\'{"sasrec-text": {"text_vectors": "home"}}\''
        )
    return parsed
