"""What training a LoRA task head costs in memory and time, whole batches against micro-batches.

Each variant trains a sentiment head (`shoplm heads train` / `evaluate heads`: the LoRA
adapter on the chosen blocks plus the output layer) on the same seeded review texts
(``--data``: a folder with a ``reviews.csv`` in the layout of ``womens_clothing_reviews``;
else made-up texts), in its own process so that its peak resident memory is its own.  A
variant runs every batch of ``--batch-size`` rows at once (``whole``) or in parts of
``--micro-batches`` rows whose gradients add up before the update (``micro_batch_size``):
the same updates, the activations of one part.  Reported per variant: the median seconds of
a training step over ``--steps`` steps (after one warm-up step), the process's peak
resident memory (the loaded model included), and both as ratios to the whole batch.
``--mmap-threshold`` runs every variant with glibc's ``MALLOC_MMAP_THRESHOLD_`` set, to see
how much of the peak is freed memory the allocator keeps.

Two cores: the process pins itself to CPUs 0-1 when the machine has more.

    .venv/bin/python bench/bench_head_training.py \
        --data ../shared/data/womens_clothing_reviews --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_encode import pin_two_cores, print_result
from bench_heads import SPEC, review_texts


def run_variant(args: argparse.Namespace, micro_batch: int | None) -> dict[str, Any]:
    """Train one head for ``args.steps + 1`` steps here; its step times and peak memory."""
    from shoplm.heads import Examples, HeadConfig, LoraSettings, TaskHead
    from shoplm.heads import train as train_module

    texts = review_texts(args.data, args.batch_size * (args.steps + 1) + 8, seed=args.seed)
    labels = [SPEC.labels[i % len(SPEC.labels)] for i in range(len(texts))]
    train = Examples(texts[:-8], labels[:-8])
    valid = Examples(texts[-8:], labels[-8:])
    config = HeadConfig(
        epochs=1,
        evals_per_epoch=1,
        batch_size=args.batch_size,
        micro_batch_size=micro_batch,
        max_seq_length=args.max_seq_length,
        rdrop=args.rdrop,
        class_weights="none",
        collapse_retries=0,
        seed=args.seed,
        lora=LoraSettings(r=16, alpha=32, layers=args.lora_layers or None),
    )
    seconds: list[float] = []
    timed_step = train_module._Stepper.step

    def step(self: Any, *step_args: Any) -> float:
        began = time.perf_counter()
        loss = timed_step(self, *step_args)
        seconds.append(time.perf_counter() - began)
        return loss

    train_module._Stepper.step = step  # type: ignore[method-assign]
    TaskHead.train(SPEC, train, valid, config)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "micro_batch": micro_batch or args.batch_size,
        "median_step_s": round(statistics.median(seconds[1:]), 3),
        "steps_timed": len(seconds) - 1,
        "peak_rss_gb": round(peak_kb / 2**20, 2),
        "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_"),  # as this process ran
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--micro-batches", default="16,8", help="part sizes to compare with the whole batch"
    )
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--max-seq-length", type=int, default=160)
    parser.add_argument("--lora-layers", type=int, default=0, help="top N blocks (0: all)")
    parser.add_argument("--rdrop", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--mmap-threshold",
        type=int,
        default=None,
        help="run the variants with glibc's MALLOC_MMAP_THRESHOLD_ at this many bytes: larger "
        "blocks are then mapped and returned to the system when freed, not kept for reuse",
    )
    parser.add_argument("--variant", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.variant is not None:  # one variant, in a process of its own
        print(json.dumps(run_variant(args, args.variant or None)))
        return 0
    cores = pin_two_cores()
    parts = [0] + [int(size) for size in args.micro_batches.split(",") if size]
    rows = []
    environment = dict(os.environ)
    if args.mmap_threshold is not None:  # glibc reads it when a process starts
        environment["MALLOC_MMAP_THRESHOLD_"] = str(args.mmap_threshold)
    for part in parts:
        # the same command line, one variant: the last --variant given wins
        line = [sys.executable, __file__, *argv, "--variant", str(part)]
        done = subprocess.run(line, capture_output=True, text=True, check=False, env=environment)
        if done.returncode != 0:
            raise SystemExit(f"variant {part or 'whole'} failed:\n{done.stderr[-2000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    whole = rows[0]
    for row in rows:
        row["step_time_ratio"] = round(row["median_step_s"] / whole["median_step_s"], 2)
        row["peak_rss_ratio"] = round(row["peak_rss_gb"] / whole["peak_rss_gb"], 2)
    result = {
        "data": str(args.data) if args.data else "made-up texts",
        "batch_size": args.batch_size,
        "max_seq_length": args.max_seq_length,
        "lora_layers": args.lora_layers or "all",
        "rdrop": args.rdrop,
        "cores": cores,
        "rows": rows,
    }
    print_result(result, rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
