"""Weights between the base and the tuned ones: LoRA updates scale exactly; choice by score."""

from __future__ import annotations

import pytest
import torch

from shoplm.finetune.interpolation import choose_strength, interpolated_state

ORIGIN = {
    "layer.lora_A.default.weight": torch.tensor([[1.0, -1.0]]),
    "layer.lora_B.default.weight": torch.zeros(2, 1),
    "norm.weight": torch.tensor([2.0, 2.0]),
}
TUNED = {
    "layer.lora_A.default.weight": torch.tensor([[3.0, 5.0]]),
    "layer.lora_B.default.weight": torch.tensor([[4.0], [-8.0]]),
    "norm.weight": torch.tensor([4.0, 0.0]),
}


def test_a_lora_update_is_scaled_exactly_by_the_strength() -> None:
    half = interpolated_state(ORIGIN, TUNED, 0.5)
    a, b = "layer.lora_A.default.weight", "layer.lora_B.default.weight"
    assert torch.equal(half[a], TUNED[a])  # A stays tuned, so B @ A scales by 0.5
    assert torch.equal(half[b] @ half[a], 0.5 * (TUNED[b] @ TUNED[a]))
    assert torch.equal(half["norm.weight"], torch.tensor([3.0, 1.0]))  # any other weight
    assert torch.equal(
        interpolated_state(ORIGIN, TUNED, 1.5)["norm.weight"], torch.tensor([5.0, -1.0])
    )


def test_strength_one_is_the_tuned_weights_themselves() -> None:
    same = interpolated_state(ORIGIN, TUNED, 1.0)
    assert all(same[name] is TUNED[name] for name in TUNED)


def test_weight_sets_must_match() -> None:
    with pytest.raises(ValueError, match=r"norm\.weight"):
        interpolated_state(ORIGIN, {k: v for k, v in TUNED.items() if k != "norm.weight"}, 0.5)


def test_the_best_scoring_strength_wins_and_the_tuned_weights_always_compete() -> None:
    scores = {0.25: 0.30, 0.5: 0.42, 1.0: 0.40}
    tried: list[float] = []

    def score(strength: float) -> float:
        tried.append(strength)
        return scores[strength]

    chosen, trials = choose_strength([0.5, 0.25, 0.5], score)
    assert chosen == 0.5
    assert tried == [0.25, 0.5, 1.0]  # each once, in order, 1.0 added
    assert trials == [{"strength": s, "score": scores[s]} for s in (0.25, 0.5, 1.0)]


def test_a_tie_keeps_the_strength_nearest_the_tuned_weights() -> None:
    assert choose_strength([0.5, 0.75], lambda s: 0.4)[0] == 1.0
    assert choose_strength([0.5, 0.75], lambda s: 0.0 if s == 1.0 else 0.4)[0] == 0.75
