"""What the bootstrap interval on a head's test figure costs, next to scoring the rows once.

``evaluate heads`` and ``heads-transfer`` add a 95% interval to every test figure by rescoring
the head's outputs on ``--rounds`` resamples of the test rows (``heads/intervals.py``); the
outputs themselves are computed once.  This times that step on seeded synthetic outputs of
the size of the clothing-review test split (4,529 rows, 3 classes, class offsets applied),
with the same class shares (10% negative, 13% neutral, 77% positive): the median of
``--repeats`` runs of one scoring, one interval and one paired interval (two heads), and the
interval's ratio to one scoring.

    .venv/bin/python bench/bench_intervals.py --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from bench_encode import pin_two_cores

from shoplm.heads.intervals import bootstrap_interval, paired_bootstrap
from shoplm.heads.predicting import Scored
from shoplm.heads.scoring import task_metrics
from shoplm.heads.spec import TaskKind, TaskSpec

SHARES = (0.10, 0.13, 0.77)  # negative, neutral, positive on womens_clothing_reviews
SPEC = TaskSpec("sentiment", TaskKind.CLASSIFICATION, ("negative", "neutral", "positive"))


def synthetic_scored(truth: np.ndarray, seed: int) -> Scored:
    """Noisy outputs that favour the true class (macro-F1 about 0.68, near a real head's)."""
    rng = np.random.default_rng(seed)
    outputs = rng.normal(0.0, 1.0, size=(len(truth), len(SHARES)))
    outputs[np.arange(len(truth)), truth] += 1.8
    calibration = np.array([0.3, 0.5, 0.0])
    metrics = task_metrics(SPEC, outputs, truth, calibration)
    return Scored(metrics=metrics, outputs=outputs, truth=truth, calibration=calibration)


def median_seconds(run: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4529)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cores = pin_two_cores()
    truth = np.random.default_rng(0).choice(len(SHARES), size=args.rows, p=SHARES)
    first, second = synthetic_scored(truth, 1), synthetic_scored(truth, 2)  # the same rows

    once = median_seconds(
        lambda: task_metrics(SPEC, first.outputs, first.truth, first.calibration), args.repeats
    )
    single = median_seconds(
        lambda: bootstrap_interval(SPEC, first, rounds=args.rounds), args.repeats
    )
    paired = median_seconds(
        lambda: paired_bootstrap(SPEC, first, second, rounds=args.rounds), args.repeats
    )
    result = {
        "rows": args.rows,
        "rounds": args.rounds,
        "repeats": args.repeats,
        "cores": cores,
        "score_once_seconds": round(once, 5),
        "interval_seconds": round(single, 3),
        "paired_interval_seconds": round(paired, 3),
        "interval_vs_one_scoring": round(single / once, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:26s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
