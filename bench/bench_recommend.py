"""Recommend latency and fit time: one engine, one dataset, every recommender.

Ingests a recommendation dataset (default: amazon_s3rec Beauty from ../shared/data) into a
throw-away engine home, times ``Engine.fit`` of the named models (each model's own seconds
too), then times ``Engine.recommend`` for one user at a time, exactly as the CLI and the
server call it (history read from the store, scoring, top-k, hits with reasons), for a
seeded sample of users, per model: median, p95 and max in milliseconds.  One command:

    .venv/bin/python bench/bench_recommend.py --data ../shared/data/amazon_s3rec \\
        --subset Beauty --json

``--params-from RESULT.json`` fits with the parameters an evaluation chose on validation
(its ``model_params``), ``--tune`` chooses them here first (tuning time reported apart);
``--home DIR`` keeps the fitted home for a second run (``--reuse`` skips ingest and fit).
Latency is timed the way ``shoplm serve`` runs: ``--threads`` (default 1, the server's
``compute_threads``) caps the BLAS and torch threads of each request.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon_s3rec"
DEFAULT_MODELS = "popularity,itemknn,als,bpr,content,sasrec,sasrec-text,hybrid"


def build(
    home: Path,
    data: Path,
    subset: str | None,
    models: list[str],
    tune: bool,
    params: dict[str, dict],
) -> dict:
    """Ingest every interaction of the dataset and fit; returns the fit report."""
    from shoplm.datasets import load_dataset
    from shoplm.engine import Engine
    from shoplm.evaluation.runner import embedding_cache_path, training_events
    from shoplm.recommend.tuning import DEFAULT_GRIDS

    dataset = load_dataset(data, subset)
    if not hasattr(dataset, "sequences"):
        raise SystemExit(f"{data} is not a recommendation dataset (no user sequences)")
    with Engine.open(
        home,
        embedding_cache=embedding_cache_path(),
        show_progress=False,
        recommend={"params": params},
    ) as engine:
        engine.upsert_items(dataset.items)
        engine.add_events(training_events(dataset.sequences, dataset.timestamps))
        tuned = [m for m in models if m in DEFAULT_GRIDS] if tune else []
        return engine.fit(models=models, tune=tuned)


def time_recommend(
    home: Path, models: list[str], n_users: int, k: int, seed: int, threads: int
) -> dict:
    """Per model: latency of one ``Engine.recommend`` call, over a seeded user sample."""
    from shoplm.engine import Engine
    from shoplm.server.app import limit_compute_threads

    out = {}
    limit_compute_threads(threads)  # the server's own cap, so the figures are the server's
    with Engine.open(home, show_progress=False) as engine:
        fitted = engine.fitted()
        users = random.Random(seed).sample(fitted.user_ids, min(n_users, len(fitted.user_ids)))
        for model in models:
            engine.recommend(users[0], k=k, model=model)  # warm-up: loads, caches
            times = []
            for user in users:
                began = time.perf_counter()
                engine.recommend(user, k=k, model=model)
                times.append((time.perf_counter() - began) * 1000.0)
            times.sort()
            out[model] = {
                "median_ms": round(statistics.median(times), 2),
                "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
                "max_ms": round(times[-1], 2),
                "n": len(times),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--subset", default="Beauty", help="category of amazon_s3rec ('' none)")
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--users", type=int, default=200, help="users timed per model")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads per request")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tune", action="store_true", help="choose parameters on validation")
    parser.add_argument(
        "--params-from", type=Path, default=None, help="evaluation JSON: use its model_params"
    )
    parser.add_argument("--home", type=Path, default=None, help="keep the engine home here")
    parser.add_argument("--reuse", action="store_true", help="home already fitted: time only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    subset = args.subset or None

    with tempfile.TemporaryDirectory(prefix="shoplm-bench-") as scratch:
        home = args.home or Path(scratch) / "home"
        began = time.perf_counter()
        params = {}
        if args.params_from:
            params = json.loads(args.params_from.read_text()).get("model_params", {})
        fit = None if args.reuse else build(home, args.data, subset, models, args.tune, params)
        setup = time.perf_counter() - began
        latency = time_recommend(
            home, [*models, "blend"], args.users, args.k, args.seed, args.threads
        )
    result = {
        "bench": "recommend",
        "data": f"{args.data.name}" + (f"/{subset}" if subset else ""),
        "fit_seconds": fit["seconds"] if fit else None,
        "model_seconds": fit.get("model_seconds") if fit else None,
        "tuning_seconds": fit.get("tuning_seconds", 0.0) if fit else None,
        "model_params": fit.get("model_params") if fit else None,
        "setup_seconds": round(setup, 2),
        "threads_per_request": args.threads,
        "recommend_latency": latency,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"fit: {result['fit_seconds']} s (models: {result['model_seconds']})")
    for model, stats in latency.items():
        print(f"{model:>12}: median {stats['median_ms']} ms, p95 {stats['p95_ms']} ms")


if __name__ == "__main__":
    main()
