"""Rating-prediction evaluation on explicit feedback (MovieLens): RMSE and MAE per model.

The protocol, spelled out (it is also written into every result's ``protocol`` field):

- split ``random``: the ratings are shuffled with the seed; ``test_fraction`` (20%) of them
  are the test set, the rest is training (the common 80/20 split of rating papers);
- split ``temporal``: each user's newest ``test_fraction`` of ratings (by timestamp, ties
  in file order) are the test set, so a user is always predicted from their past;
- validation is carved from training the same way (a seeded random ``valid_fraction`` of
  the training ratings, or each user's newest ``valid_fraction`` of them); every model's
  grid (``shoplm.recommend.rating.DEFAULT_GRIDS``) is fitted on training minus validation
  and scored on validation after every epoch; the best point and epoch count are refitted
  on all training ratings; test ratings are never used for any choice;
- predictions are clipped to the rating scale; a user or item absent from training falls
  back to what the model knows (biases, text prior; a pair of strangers gets the mean);
- metrics: RMSE = sqrt(mean((prediction - rating)^2)) and MAE = mean(|prediction - rating|)
  over all test ratings, and again over slices of test ratings whose item had at most N
  training ratings (``few_ratings``), where text should help most.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shoplm.datasets import RecDataset, load_dataset
from shoplm.evaluation.options import comma_list
from shoplm.evaluation.runner import Progress, embedding_cache_path
from shoplm.recommend.rating import (
    DEFAULT_GRIDS,
    RATING_MODELS,
    ItemVectors,
    tune_model,
)
from shoplm.recommend.rating.tuning import PATIENCE, grid_points

DEFAULT_RATING_MODELS = ("global-mean", "bias", "mf", "mf-text")
PROTOCOLS = ("random", "temporal")
FEW_RATINGS = (0, 5, 20)
RANDOM_PROTOCOL = "random: ratings shuffled with seed {seed}; {test:.0%} test, the rest training; validation = a seeded random {valid:.0%} of the training ratings"  # noqa: E501
TEMPORAL_PROTOCOL = "per-user temporal: each user's newest {test:.0%} of ratings (by timestamp) are test, the rest training; validation = each user's newest {valid:.0%} of their training ratings"  # noqa: E501
TUNING_PROTOCOL = "hyperparameters: each model's grid is fitted on training minus validation and scored by validation RMSE after every epoch (stopping after {patience} epochs without gain); the best point and epoch count are refitted on all training ratings; test ratings are never used for any choice"  # noqa: E501
DEFAULTS_PROTOCOL = "hyperparameters: library defaults, no tuning"
METRIC_PROTOCOL = "predictions clipped to [{low:g}, {high:g}]; users/items absent from training fall back to the known biases (the mean for a pair of strangers); RMSE = sqrt(mean((pred - r)^2)), MAE = mean(|pred - r|) over all test ratings; slices repeat them for test ratings whose item had at most N training ratings"  # noqa: E501


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Root mean squared error; both arrays must be the same non-empty length."""
    predicted, actual = _paired(predicted, actual)
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute error; both arrays must be the same non-empty length."""
    predicted, actual = _paired(predicted, actual)
    return float(np.mean(np.abs(predicted - actual)))


def _paired(predicted: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predicted, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if p.shape != a.shape or p.ndim != 1:
        raise ValueError(f"predictions {p.shape} and ratings {a.shape} must be equal 1-D shapes")
    if not len(a):
        raise ValueError("no ratings to score")
    return p, a


class RatingTable:
    """All ratings of a dataset as flat columns, in dataset order (users, then time)."""

    def __init__(self, dataset: RecDataset) -> None:
        if dataset.values is None:
            raise ValueError(f"{dataset.name} has no rating values: rating prediction needs them")
        users, items, values, times = [], [], [], []
        for user, sequence in dataset.sequences.items():
            users += [user] * len(sequence)
            items += list(sequence)
            values += list(dataset.values[user])
            if dataset.timestamps is not None:
                times += list(dataset.timestamps[user])
        self.users = np.array(users, dtype=object)
        self.items = np.array(items, dtype=object)
        self.values = np.array(values, dtype=np.float64)
        self.times = np.array(times, dtype=np.float64) if dataset.timestamps else None

    def __len__(self) -> int:
        return len(self.values)

    def triples(self, rows: np.ndarray) -> tuple[list[str], list[str], np.ndarray]:
        return list(self.users[rows]), list(self.items[rows]), self.values[rows]


def random_split(
    rows: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out): a random ``fraction`` of ``rows`` held out, both sorted."""
    n_out = round(len(rows) * fraction)
    shuffled = rng.permutation(rows)
    return np.sort(shuffled[n_out:]), np.sort(shuffled[:n_out])


def per_user_temporal_split(
    rows: np.ndarray, users: np.ndarray, times: np.ndarray, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out): each user's newest ``fraction`` of ``rows`` held out.

    A user with ``n`` ratings gives ``floor(n * fraction)`` of them, at least one when
    ``n >= 2`` so every user with history is tested; ties in time keep row order.
    """
    kept, held = [], []
    order = np.lexsort((rows, times[rows], users[rows].astype(str)))
    ordered = rows[order]
    owners = users[ordered]
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    for start, end in zip(starts, ends, strict=True):
        n = end - start
        n_out = max(int(np.floor(n * fraction)), 1) if n >= 2 else 0
        kept.append(ordered[start : end - n_out])
        held.append(ordered[end - n_out : end])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def evaluate_rating(
    data: str | Path | RecDataset,
    models: Sequence[str] | None = None,
    seed: int = 42,
    protocol: str = "random",
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
    tune: bool = True,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    item_vectors: ItemVectors | None = None,
    few_ratings: Sequence[int] = FEW_RATINGS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Tune on validation, refit on training, and score RMSE/MAE on test, for every model.

    ``data`` is a dataset folder (or a loaded ``RecDataset`` with rating values).  Text
    models get ``item_vectors`` when given, else the items' text encoded by the configured
    encoder through the shared embedding cache.  ``grids`` replaces the default grids of
    the models it names.
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    dataset = data if isinstance(data, RecDataset) else load_dataset(data)
    if not isinstance(dataset, RecDataset):
        raise ValueError(f"{data} holds a {type(dataset).__name__}, not a rating dataset")
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    for name, value in (("test_fraction", test_fraction), ("valid_fraction", valid_fraction)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    models = list(models or DEFAULT_RATING_MODELS)
    unknown = [m for m in models if m not in RATING_MODELS]
    if unknown:
        raise ValueError(f"unknown rating model(s) {unknown}; choose from {sorted(RATING_MODELS)}")

    table = RatingTable(dataset)
    rng = np.random.default_rng(seed)
    everything = np.arange(len(table))
    if protocol == "random":
        train, test = random_split(everything, test_fraction, rng)
        fit_part, valid = random_split(train, valid_fraction, rng)
        split_text = RANDOM_PROTOCOL.format(seed=seed, test=test_fraction, valid=valid_fraction)
    else:
        if table.times is None:
            raise ValueError(f"{dataset.name} has no timestamps: use protocol 'random'")
        train, test = per_user_temporal_split(everything, table.users, table.times, test_fraction)
        fit_part, valid = per_user_temporal_split(train, table.users, table.times, valid_fraction)
        split_text = TEMPORAL_PROTOCOL.format(test=test_fraction, valid=valid_fraction)
    scale = (float(table.values[train].min()), float(table.values[train].max()))

    text_report: dict[str, Any] | None = None
    if any(RATING_MODELS[m].uses_text for m in models) and item_vectors is None:
        say(f"encoding {len(dataset.items)} item texts")
        item_vectors, text_report = _encode_items(dataset)

    test_users, test_items, test_values = table.triples(test)
    train_item_counts: dict[str, int] = {}
    for item in table.items[train]:
        train_item_counts[item] = train_item_counts.get(item, 0) + 1
    test_counts = np.array([train_item_counts.get(i, 0) for i in test_items])
    train_users = set(table.users[train])

    metrics: dict[str, dict[str, float]] = {}
    params: dict[str, dict[str, Any]] = {}
    tuning: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    predictions: dict[str, np.ndarray] = {}
    for name in models:
        began = time.perf_counter()
        cls = RATING_MODELS[name]
        grid = (grids or {}).get(name, DEFAULT_GRIDS.get(name, {}))
        if tune and grid:
            say(f"tuning {name} over {len(grid_points(grid))} grid points")
            result = tune_model(
                name,
                table.triples(fit_part),
                table.triples(valid),
                grid=grid,
                item_vectors=item_vectors,
                scale=scale,
                seed=seed,
            )
            tuning[name] = result.as_dict()
            chosen = result.params
        else:
            chosen = {"seed": seed} if cls.seeded else {}
        say(f"fitting {name} with {chosen}")
        model = cls(scale=scale, **chosen).fit(*table.triples(train), item_vectors=item_vectors)
        params[name] = model.params
        predictions[name] = model.predict(test_users, test_items)
        metrics[name] = _scores(predictions[name], test_values)
        seconds[name] = round(time.perf_counter() - began, 2)

    slices = {}
    for limit in few_ratings:
        mask = test_counts <= limit
        slices[f"item_train_ratings<={limit}"] = {
            "n_ratings": int(mask.sum()),
            "metrics": (
                {m: _scores(p[mask], test_values[mask]) for m, p in predictions.items()}
                if mask.any()
                else {}
            ),
        }
    tuning_text = TUNING_PROTOCOL.format(patience=PATIENCE) if tune else DEFAULTS_PROTOCOL
    return {
        "task": "rating",
        "dataset": dataset.name,
        "protocol": "; ".join(
            [split_text, tuning_text, METRIC_PROTOCOL.format(low=scale[0], high=scale[1])]
        ),
        "split": protocol,
        "seed": seed,
        "scale": list(scale),
        "n_users": len(dataset.sequences),
        "n_items": len(dataset.items),
        "n_train": len(train),
        "n_fit": len(fit_part),
        "n_valid": len(valid),
        "n_test": len(test),
        "n_test_unknown_users": int(sum(u not in train_users for u in test_users)),
        "n_test_unknown_items": int((test_counts == 0).sum()),
        "text": text_report,
        "seconds": round(time.perf_counter() - started, 2),
        "model_seconds": seconds,
        "model_params": params,
        "tuning": tuning,
        "metrics": metrics,
        "slices": slices,
    }


def _scores(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    return {"rmse": round(rmse(predicted, actual), 6), "mae": round(mae(predicted, actual), 6)}


def _encode_items(dataset: RecDataset) -> tuple[ItemVectors, dict[str, Any]]:
    """The items' text through the configured encoder and the machine's embedding cache."""
    from shoplm.text.cache import EmbeddingCache
    from shoplm.text.encoder import TextEncoder

    with EmbeddingCache(embedding_cache_path()) as cache:
        encoder = TextEncoder(cache=cache)
        vectors = encoder.encode_cached([item.text() for item in dataset.items])
        report = {"encoder": encoder.model_id, "dim": int(vectors.shape[1]), **encoder.last_stats}
    return ItemVectors([item.item_id for item in dataset.items], vectors), report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shoplm.evaluation.rating_eval",
        description="RMSE/MAE of rating models on a dataset with explicit ratings.",
    )
    parser.add_argument("--data", required=True, help="dataset folder, e.g. movielens_100k")
    parser.add_argument("--models", default=",".join(DEFAULT_RATING_MODELS))
    parser.add_argument("--protocol", choices=PROTOCOLS, default="random")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-tune", action="store_true", help="use default hyperparameters")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = parser.parse_args(argv)
    result = evaluate_rating(
        args.data,
        models=comma_list(args.models),
        seed=args.seed,
        protocol=args.protocol,
        tune=not args.no_tune,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['dataset']} ({result['split']}, {result['n_test']} test ratings)")
    for model, scores in result["metrics"].items():
        print(f"{model:12s} RMSE {scores['rmse']:.4f}  MAE {scores['mae']:.4f}")
    for name, part in result["slices"].items():
        print(f"{name} ({part['n_ratings']} test ratings)")
        for model, scores in part["metrics"].items():
            print(f"  {model:12s} RMSE {scores['rmse']:.4f}  MAE {scores['mae']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
