"""The moving average of the weights: the numbers it keeps and the swap in and out."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shoplm.heads.averaging import WeightAverage


def test_the_average_follows_the_warmed_up_decay() -> None:
    param = nn.Parameter(torch.tensor([0.0, 10.0]))
    average = WeightAverage([param], decay=0.5)
    with torch.no_grad():
        param.copy_(torch.tensor([4.0, 2.0]))
    average.update()  # decay min(0.5, 2/11): the new weights count 9/11
    torch.testing.assert_close(average.shadow[0], torch.tensor([36 / 11, 38 / 11]))
    with torch.no_grad():
        param.copy_(torch.tensor([0.0, 0.0]))
    before = average.shadow[0].clone()
    average.update()  # decay min(0.5, 3/12) = 0.25
    torch.testing.assert_close(average.shadow[0], 0.25 * before)
    for _ in range(20):
        average.update()
    assert average.current_decay() == 0.5  # the warm-up has passed


def test_applied_swaps_the_average_in_and_the_raw_weights_back() -> None:
    param = nn.Parameter(torch.tensor([1.0, 2.0]))
    average = WeightAverage([param], decay=0.9)
    with torch.no_grad():
        param.copy_(torch.tensor([5.0, 6.0]))
    average.update()
    with average.applied():
        torch.testing.assert_close(param.detach(), average.shadow[0])
        assert not torch.equal(param.detach(), torch.tensor([5.0, 6.0]))
    torch.testing.assert_close(param.detach(), torch.tensor([5.0, 6.0]))
    with pytest.raises(RuntimeError, match="scoring failed"), average.applied():
        raise RuntimeError("scoring failed")
    torch.testing.assert_close(param.detach(), torch.tensor([5.0, 6.0]))  # restored anyway


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_a_decay_outside_0_1_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match=r"decay must be in \(0, 1\)"):
        WeightAverage([nn.Parameter(torch.zeros(1))], decay)


def test_keep_leaves_the_average_in_the_model() -> None:
    param = nn.Parameter(torch.tensor([0.0, 10.0]))
    average = WeightAverage([param], decay=0.5)
    with torch.no_grad():
        param.copy_(torch.tensor([4.0, 2.0]))
    average.update()
    average.keep()
    torch.testing.assert_close(param.detach(), torch.tensor([36 / 11, 38 / 11]))
    torch.testing.assert_close(average.shadow[0], param.detach())
