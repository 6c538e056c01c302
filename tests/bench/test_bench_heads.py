"""The head-prediction bench runs on made-up texts (no timing is asserted)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType

import pytest

BenchModule = Callable[[str], ModuleType]


def test_bench_heads_times_each_head(
    capsys: pytest.CaptureFixture[str], bench_module: BenchModule
) -> None:
    main = bench_module("bench_heads").main
    assert main(["--batches", "1,4", "--repeats", "1", "--max-seq-length", "16", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [row["texts"] for row in result["rows"]] == [1, 4]
    for row in result["rows"]:
        assert row["probe_ms"] > 0 and row["lora_ms"] > 0 and row["lora-lexical_ms"] > 0
        assert row["lora_over_probe"] > 0 and row["lexical_over_lora"] > 0
        assert 0 < row["words_alone_ms"] < row["lora-lexical_ms"]
    weights = result["weights"]
    # MiniLM-L6 is about 87 MB of float32 weights: held once when the heads share it
    assert weights["heads"] == 2 and 80 < weights["shared_base_mb"] < 100
    assert weights["own_copies_mb"] > 1.8 * weights["shared_base_mb"]
