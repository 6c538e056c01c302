"""limit_threads caps torch's CPU threads in this process (children: test_finetune_job)."""

from __future__ import annotations

import pytest
import torch

from shoplm.evaluation.threads import limit_threads


@pytest.fixture
def restore_threads():
    """Undo the process-wide change after each test."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_caps_this_process(restore_threads) -> None:
    torch.set_num_threads(2)
    limit_threads(1)
    assert torch.get_num_threads() == 1


def test_none_leaves_everything_as_is(restore_threads) -> None:
    torch.set_num_threads(2)
    limit_threads(None)
    assert torch.get_num_threads() == 2


def test_rejects_zero(restore_threads) -> None:
    with pytest.raises(ValueError, match="threads must be at least 1"):
        limit_threads(0)
