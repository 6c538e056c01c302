"""The fine-tuning step bench times both variants on a tiny run (no timing is asserted)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from types import ModuleType

from shoplm.finetune.pairs import recommendation_data
from shoplm.schema import Item

BenchModule = Callable[[str], ModuleType]


def test_bench_variant_runs_both_paths(bench_module: BenchModule) -> None:
    bench_variant = bench_module("bench_finetune").bench_variant
    items = [Item(item_id=f"i{n}", title=f"office item number {n}") for n in range(8)]
    sequences = {f"u{u}": [f"i{(u + k) % 8}" for k in range(4)] for u in range(6)}
    data = recommendation_data(items, sequences)
    args = argparse.Namespace(steps=2, batch_size=2, max_seq_length=16, seed=1)
    every = bench_variant(data, None, args)
    top = bench_variant(data, 2, args)
    assert (every["frozen_blocks"], every["cached_texts"]) == (0, 0)
    assert top["frozen_blocks"] == 4 and top["cached_texts"] == len(items)
    assert top["trainable_params"] == every["trainable_params"] // 3  # 2 of 6 blocks adapted
    assert every["median_step_seconds"] > 0 and top["median_step_seconds"] > 0
