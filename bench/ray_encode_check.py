"""Ray Data encoding vs in-process encoding of a real catalog: same vectors? how long?

Encodes the item texts of a dataset (what ``fit`` encodes; titles for amazon_games) twice
with the default encoder settings: in this process with ``TextEncoder.encode``, then with
``shoplm.distributed.ray_encode.encode_ray`` on a local Ray started with ``--workers`` CPUs
(one encoding actor per CPU).  Reports the largest absolute difference of any vector
component, the smallest and mean cosine between the two vectors of a text, and both wall
times (Ray's split into starting Ray and encoding, the actors' model loads included).
``--n`` encodes a seeded sample instead of the whole catalog, said so in the output.

    nice -n 10 .venv/bin/python bench/ray_encode_check.py \\
        --data ../shared/data/amazon_games --json ../notes/runs/s12/ray_games.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np


def load_texts(data: Path, n: int, seed: int) -> tuple[list[str], int]:
    """(texts to encode, catalog size): every item's text, or a seeded sample of ``n``."""
    from shoplm.datasets import load_dataset

    texts = [item.text() for item in load_dataset(data).items]
    total = len(texts)
    if 0 < n < total:
        texts = random.Random(seed).sample(texts, n)
    return texts, total


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/amazon_games"))
    parser.add_argument("--n", type=int, default=0, help="seeded sample size; 0 = all items")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="Ray CPUs = encoding actors")
    parser.add_argument("--batch-size", type=int, default=256, help="texts per Ray batch")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)

    import ray
    import torch

    from shoplm.config import ComputeSettings, EncoderSettings
    from shoplm.distributed.ray_encode import encode_ray
    from shoplm.text.encoder import TextEncoder

    texts, catalog = load_texts(args.data, args.n, args.seed)
    settings = EncoderSettings()
    print(f"encoding {len(texts)} of {catalog} item texts", file=sys.stderr, flush=True)

    tick = time.perf_counter()
    local = TextEncoder(settings).encode(texts, progress=False)
    local_s = time.perf_counter() - tick
    print(f"in-process: {local_s:.1f} s", file=sys.stderr, flush=True)

    tick = time.perf_counter()
    ray.init(
        num_cpus=args.workers,
        include_dashboard=False,
        configure_logging=False,
        log_to_driver=False,
    )
    start_s = time.perf_counter() - tick
    compute = ComputeSettings(backend="ray", num_workers=args.workers, batch_size=args.batch_size)
    try:
        tick = time.perf_counter()
        remote = encode_ray(texts, settings, compute)
        ray_s = time.perf_counter() - tick
    finally:
        ray.shutdown()

    cosine = np.sum(local * remote, axis=1) / (
        np.linalg.norm(local, axis=1) * np.linalg.norm(remote, axis=1)
    )
    result = {
        "dataset": args.data.name,
        "catalog_items": catalog,
        "texts": len(texts),
        "subset": len(texts) < catalog,
        "subset_note": (
            f"seeded sample (seed {args.seed}) of {len(texts)} of {catalog} item texts"
            if len(texts) < catalog
            else "the whole catalog"
        ),
        "encoder": settings.model,
        "dim": int(local.shape[1]),
        "max_abs_diff": float(np.abs(local - remote).max()),
        "min_cosine": float(cosine.min()),
        "mean_cosine": float(cosine.mean()),
        "in_process_s": round(local_s, 2),
        "in_process_texts_per_s": round(len(texts) / local_s, 1),
        "in_process_torch_threads": torch.get_num_threads(),
        "ray_start_s": round(start_s, 2),
        "ray_encode_s": round(ray_s, 2),
        "ray_texts_per_s": round(len(texts) / ray_s, 1),
        "ray_workers": args.workers,
        "ray_batch_size": args.batch_size,
        "ray_version": ray.__version__,
        "torch_version": torch.__version__,
        "cpus": os.cpu_count(),
        "load_average_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
