"""A fine-tuning child process runs with its parent's torch thread count."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from shoplm.finetune.job import child_environment


def test_the_child_takes_the_parent_thread_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # else the child would read it anyway
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        env = child_environment()
    finally:
        torch.set_num_threads(before)
    assert env["OMP_NUM_THREADS"] == "1" and env["PATH"]  # the rest of the environment kept
    child = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    assert child.stdout.strip() == "1"
