"""Pulling tuned weights part of the way back towards the base, chosen on validation.

Fine-tuning on a shop's behaviour teaches the encoder what is bought together, and on the way
it loses some of what the base already did well (text neighbours).  Weights between the two,
``base + s x (tuned - base)`` for a strength ``s``, often keep more of both than either end
(weight-space ensembling, "WiSE-FT": Wortsman et al., CVPR 2022).  The exported model is still
one encoder: serving costs nothing extra.

For LoRA the update is ``B @ A`` with ``B`` starting at zero (peft's default), so keeping each
``lora_A`` as tuned and moving only the other weights scales the update by exactly ``s``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

LORA_A = ".lora_A."


def interpolated_state(
    origin: dict[str, Any], tuned: dict[str, Any], strength: float
) -> dict[str, Any]:
    """``origin + strength x (tuned - origin)`` per weight; ``lora_A`` weights stay tuned.

    Strength 1.0 is ``tuned`` itself (``origin`` is then not read).
    """
    if strength == 1.0:
        return dict(tuned)  # exactly the tuned weights, without rounding through the sum
    if origin.keys() != tuned.keys():
        missing = sorted(origin.keys() ^ tuned.keys())
        raise ValueError(f"the two weight sets differ, e.g. in {missing[0]!r}")
    return {
        name: value if LORA_A in name else origin[name] + strength * (value - origin[name])
        for name, value in tuned.items()
    }


def choose_strength(
    strengths: Sequence[float], score: Callable[[float], float]
) -> tuple[float, list[dict[str, float]]]:
    """The strength (1.0, the tuned weights, always among them) whose ``score`` is highest.

    Ties go to the strength nearest 1.0: the weights early stopping already chose.
    Returns it and every trial, in the order tried.
    """
    trials = [{"strength": s, "score": score(s)} for s in sorted({1.0, *strengths})]
    best = max(trials, key=lambda t: (t["score"], -abs(t["strength"] - 1.0)))
    return best["strength"], trials
