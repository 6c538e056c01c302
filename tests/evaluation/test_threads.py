"""limit_threads caps torch here and in child processes (where fine-tuning jobs train)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from shoplm.evaluation.threads import limit_threads


@pytest.fixture
def restore_threads(monkeypatch: pytest.MonkeyPatch):
    """Undo the process-wide changes after each test."""
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    monkeypatch.setenv("MKL_NUM_THREADS", "")
    yield
    torch.set_num_threads(before)


def test_caps_this_process_and_children(restore_threads) -> None:
    limit_threads(1)
    assert torch.get_num_threads() == 1
    child = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert child.stdout.strip() == "1"


def test_none_leaves_everything_as_is(restore_threads) -> None:
    torch.set_num_threads(2)
    limit_threads(None)
    assert torch.get_num_threads() == 2


def test_rejects_zero(restore_threads) -> None:
    with pytest.raises(ValueError, match="threads must be at least 1"):
        limit_threads(0)
