"""Fine-tuning step speed: LoRA on every block vs LoRA on the top N from cached states.

Each variant runs the training step of ``shoplm finetune`` (``steps.Stepper``: batch loss,
backward, clipping, AdamW) on the same seeded batches of the dataset's training pairs
((history -> next item) for a recommendation dataset, (query -> relevant product) for a search
dataset), after one warm-up step.  Reported per variant: the median seconds per step over
``--steps`` steps, pairs/s, the ratio to LoRA on every block, and, for the top-N variants,
the one-off cost of running the frozen bottom blocks over every text the run needs (paid once
per run, before the first step; the steps then run only the top blocks).

Two cores: the process pins itself to CPUs 0-1 when the machine has more.

    .venv/bin/python bench/bench_finetune.py --data ../shared/data/amazon_office --json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench_encode import pin_two_cores


def bench_variant(data: Any, layers: int | None, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from shoplm.config import DEFAULT_ENCODER
    from shoplm.finetune.model import add_lora, load_sentence_model, parameter_counts
    from shoplm.finetune.steps import Stepper
    from shoplm.finetune.train import FinetuneConfig, step_encoder

    torch.manual_seed(args.seed)
    config = FinetuneConfig(
        mode="lora",
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        lora_layers=layers,
        seed=args.seed,
    )
    model = load_sentence_model(DEFAULT_ENCODER, "cpu")
    model.max_seq_length = config.max_seq_length
    frozen = add_lora(model, config.lora())
    began = time.perf_counter()
    prefix, embed = step_encoder(model, frozen, data, config, "cpu")
    prefix_seconds = time.perf_counter() - began
    stepper = Stepper(model, embed, None, data, data.pairs, [], config)
    order = random.Random(args.seed).sample(range(len(data.pairs)), len(data.pairs))
    model.train()
    times = []
    for step in range(args.steps + 1):
        rows = order[step * args.batch_size : (step + 1) * args.batch_size]
        started = time.perf_counter()
        stepper.step([data.pairs[i] for i in rows], step, config.lr)
        if step:  # the first step warms up
            times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return {
        "lora_layers": layers or "all",
        "frozen_blocks": frozen,
        "cached_texts": len(prefix.row) if prefix else 0,
        "prefix_seconds": round(prefix_seconds, 2) if prefix else 0.0,
        "median_step_seconds": round(median, 4),
        "pairs_per_second": round(args.batch_size / median, 2),
        "trainable_params": parameter_counts(model)["trainable"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset folder")
    parser.add_argument("--layers", default="2,3", help="top-N variants to time, comma-separated")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--max-pairs", type=int, default=2000, help="pairs the run is built on")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cores = pin_two_cores()

    import torch

    from shoplm.datasets import SearchDataset, load_dataset
    from shoplm.evaluation.finetune_eval import task_training_data

    torch.set_num_threads(len(cores))
    dataset = load_dataset(args.data)
    task = "search" if isinstance(dataset, SearchDataset) else "recommend"
    data = task_training_data(dataset, task, 1, args.max_pairs, 200, 1000, args.seed)
    variants = [None] + [int(n) for n in args.layers.split(",") if n]
    rows = [bench_variant(data, layers, args) for layers in variants]
    baseline = rows[0]["median_step_seconds"]
    for row in rows:
        row["speedup_vs_all_blocks"] = round(baseline / row["median_step_seconds"], 2)
    result = {
        "dataset": dataset.name,
        "task": task,
        "pairs": len(data.pairs),
        "batch_size": args.batch_size,
        "max_seq_length": args.max_seq_length,
        "steps": args.steps,
        "cores": cores,
        "variants": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for row in rows:
            print(
                f"lora on {row['lora_layers']!s:>3} blocks: "
                f"{row['median_step_seconds']:.3f} s/step ({row['pairs_per_second']:.1f} pairs/s, "
                f"{row['speedup_vs_all_blocks']:.2f}x); frozen blocks once: "
                f"{row['prefix_seconds']:.1f} s over {row['cached_texts']} texts"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
