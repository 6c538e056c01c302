"""Encoding throughput: torch (sentence-transformers) vs ONNX Runtime fp32 vs ONNX int8.

Every backend encodes the same N real product titles (a seeded sample of the dataset's item
texts, what a fit encodes) through ``TextEncoder.encode`` with the default settings (each
backend's own batch size unless ``--batch-size``, max 128 tokens), after a warm-up batch;
the time is the median of ``--repeats`` full passes.  Reported per backend: titles/s, the
ratio to torch, the cosine agreement of its vectors with torch's (mean and min over the
titles), one-query encode latency, and the load time (the first load of an onnx backend
includes the export, cached on disk afterwards).

Two cores: the process pins itself to CPUs 0-1 when the machine has more, and torch and
ONNX Runtime both use that many threads.

``--compact 0.75`` adds each ONNX backend on the compacted encoder (``shoplm.text.compact``:
feed-forward neurons pruned to that share, calibrated on the dataset's own item texts,
built once under ``bench/results/compact/``); ``bench/quality_onnx.py`` scores its quality.

    .venv/bin/python bench/bench_encode.py --data ../shared/data/homedepot_search --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from compact_models import encoder_variants

BACKENDS = ("torch", "onnx", "onnx-int8")


def pin_two_cores() -> list[int]:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 2:
        os.sched_setaffinity(0, cores[:2])
    return sorted(os.sched_getaffinity(0))


def print_result(result: dict[str, Any], lines: Iterable[object], as_json: bool) -> None:
    """A bench's result: the whole of it as JSON, else one printed line per row."""
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for line in lines:
        print(line)


def load_texts(data: Path, n: int, seed: int) -> list[str]:
    """A seeded sample of the dataset's item texts (titles for homedepot)."""
    from shoplm.datasets import load_dataset

    texts = sorted({item.text() for item in load_dataset(data).items})
    return random.Random(seed).sample(texts, min(n, len(texts)))


def bench_backend(
    settings: dict, texts: list[str], queries: list[str], repeats: int, batch_size: int | None
) -> dict:
    from shoplm.config import EncoderSettings
    from shoplm.text.encoder import TextEncoder

    started = time.perf_counter()
    encoder = TextEncoder(EncoderSettings(**settings, batch_size=batch_size))
    encoder.encode(texts[:64], progress=False)  # warm-up: load (and export) the model
    load_s = time.perf_counter() - started
    seconds = []
    vectors = None
    for _ in range(repeats):
        tick = time.perf_counter()
        vectors = encoder.encode(texts, progress=False)
        seconds.append(time.perf_counter() - tick)
    query_ms = []
    for query in queries:
        tick = time.perf_counter()
        encoder.encode([query], progress=False)
        query_ms.append((time.perf_counter() - tick) * 1000)
    median = statistics.median(seconds)
    return {
        "model_id": encoder.model_id,
        "batch_size": encoder.batch_size,
        "titles_per_s": round(len(texts) / median, 1),
        "seconds": [round(s, 3) for s in seconds],
        "query_ms_median": round(statistics.median(query_ms), 2),
        "load_s": round(load_s, 2),
        "vectors": vectors,
    }


def bench_variants(
    runs: dict[str, dict],
    texts: list[str],
    queries: list[str],
    repeats: int = 3,
    batch_size: int | None = None,
) -> dict[str, dict]:
    """``bench_backend`` per labelled encoder setting, plus cosine and speed ratio to torch."""
    rows: dict[str, dict] = {}
    reference = None
    for label, settings in runs.items():
        print(f"[bench] {label}", file=sys.stderr, flush=True)
        row = bench_backend(settings, texts, queries, repeats, batch_size)
        vectors = row.pop("vectors")
        if reference is None and label == "torch":
            reference = vectors
        if reference is not None:
            cosine = (vectors * reference).sum(axis=1)  # both unit length
            row["cosine_to_torch_mean"] = round(float(cosine.mean()), 6)
            row["cosine_to_torch_min"] = round(float(cosine.min()), 6)
        rows[label] = row
    base = rows.get("torch", {}).get("titles_per_s")
    for row in rows.values():
        if base:
            row["ratio_to_torch"] = round(row["titles_per_s"] / base, 2)
    return rows


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/homedepot_search"))
    parser.add_argument("--n", type=int, default=2000, help="titles to encode")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queries", type=int, default=100, help="one-text encodes timed")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch-size", type=int, default=None, help="default: each backend's")
    parser.add_argument("--compact", default="", help="comma-separated shares of neurons kept")
    parser.add_argument("--distill", type=int, default=0, help="distillation epochs (compact)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    cores = pin_two_cores()
    import torch

    torch.set_num_threads(len(cores))
    texts = load_texts(args.data, args.n, args.seed)
    queries = texts[: args.queries]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    keeps = [float(k) for k in args.compact.split(",") if k.strip()]
    runs = encoder_variants(backends, keeps, args.data, args.distill)
    result: dict = {
        "bench": "encode",
        "data": args.data.name,
        "n_texts": len(texts),
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "repeats": args.repeats,
        "cores": cores,
        "threads": len(cores),
    }
    result["backends"] = bench_variants(runs, texts, queries, args.repeats, args.batch_size)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{len(texts)} texts from {args.data.name}, {len(cores)} threads")
        for name, row in result["backends"].items():
            print(
                f"  {name:20s} {row['titles_per_s']:8.1f} titles/s"
                f"  x{row.get('ratio_to_torch', float('nan')):.2f}"
                f"  cos {row.get('cosine_to_torch_mean', float('nan')):.5f}"
                f"  query {row['query_ms_median']:.2f} ms"
            )
    return result


if __name__ == "__main__":
    main()
