"""The head-training bench runs each variant in its own process (no timing is asserted)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType

import pytest

BenchModule = Callable[[str], ModuleType]


def test_bench_head_training_compares_micro_batches(
    capsys: pytest.CaptureFixture[str], bench_module: BenchModule
) -> None:
    main = bench_module("bench_head_training").main
    options = ["--steps", "1", "--batch-size", "4", "--micro-batches", "2"]
    options += ["--max-seq-length", "16", "--lora-layers", "1", "--mmap-threshold", "65536"]
    assert main([*options, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["batch_size"] == 4 and result["lora_layers"] == 1
    whole, parts = result["rows"]
    assert (whole["micro_batch"], parts["micro_batch"]) == (4, 2)
    assert whole["step_time_ratio"] == 1.0 and whole["peak_rss_ratio"] == 1.0
    for row in result["rows"]:
        assert row["steps_timed"] == 1 and row["median_step_s"] > 0
        assert row["malloc_mmap_threshold"] == "65536"  # each variant's process ran with it
        assert 0.1 < row["peak_rss_gb"] < 8  # the loaded MiniLM at least, each its own process
