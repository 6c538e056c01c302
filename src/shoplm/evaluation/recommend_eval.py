"""Recommendation evaluation: held-out split, fit on the rest, full ranking for test users.

The protocol, spelled out (it is also written into every result's ``protocol`` field):

- split: leave-one-out; each user's last item is the test target, the one before it the
  validation target; the engine is fitted on everything but the test items;
- ranking: every catalog item is scored for every test user (no sampled negatives) and the
  user's training items are excluded; HR, NDCG, Recall and MRR at 5/10/20, item coverage;
- choices: every hyperparameter is chosen on the validation item and never on the test
  item.  Inside ``fit`` each user's newest training item (= the validation item) is held
  out; ALS, item-kNN, BPR and content are tuned over their grids
  (``shoplm.recommend.tuning.DEFAULT_GRIDS``) on it and refitted on all training items;
  sasrec and sasrec-text early-stop and pick their content weights on it; the hybrid's
  ranker is trained on it.  The chosen parameters, the trials and each model's own
  choices are part of the result (``model_params``, ``tuning``, ``model_reports``);
- cold items: metrics are repeated for users whose test item was taken by at most
  ``cold_max_users`` training users (``cold_items``), where content models should shine.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shoplm.datasets import RecDataset, load_dataset
from shoplm.engine import BLEND, Engine
from shoplm.evaluation.metrics import item_coverage, ranking_metrics
from shoplm.evaluation.runner import Progress, open_temp_engine, seeded_sample, training_events
from shoplm.evaluation.splits import leave_one_out, temporal_split
from shoplm.fitted import FittedPlatform
from shoplm.interactions import Interactions
from shoplm.recommend.tuning import DEFAULT_GRIDS

DEFAULT_REC_MODELS = (
    "popularity",
    "itemknn",
    "als",
    "bpr",
    "content",
    "sasrec",
    "sasrec-text",
    "hybrid",
    BLEND,
)
# A test target seen by at most this many training users is a cold item.
COLD_MAX_USERS = 5
PROTOCOLS = ("leave_one_out", "temporal")
LOO_PROTOCOL = "leave-one-out: last item of each user is the test target; full ranking over all items; the user's training items are excluded"  # noqa: E501
TUNING_PROTOCOL = "hyperparameters: {tuned} chosen by NDCG@10 on the validation item (each user's newest training item, i.e. the second-to-last item under leave-one-out, predicted from the items before it) over a fixed grid, then refitted on all training items; sasrec/sasrec-text pick their epoch and content weight on the same validation item, and the hybrid's ranker learns on it; the test item is never used for any choice"  # noqa: E501
TEMPORAL_PROTOCOL = "temporal: global cutoff at the {quantile:.0%} time quantile; targets are items a user first meets after it; full ranking; training items excluded"  # noqa: E501


def evaluate_recommend(
    data: str | Path,
    subset: str | None = None,
    models: Sequence[str] | None = None,
    protocol: str | None = None,
    ks: Sequence[int] = (5, 10, 20),
    max_users: int | None = None,
    tune: bool = True,
    cold_max_users: int = COLD_MAX_USERS,
    seed: int = 42,
    show_progress: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Fit every model on the training split and rank the whole catalog for test users.

    With ``tune`` the models that have a tuning grid get their parameters chosen on the
    validation split first.  Metrics are also reported on the cold-item slice: users whose
    test item was taken by at most ``cold_max_users`` training users.
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    dataset = load_dataset(data, subset)
    if not isinstance(dataset, RecDataset):
        raise ValueError(f"{data} holds a {type(dataset).__name__}, not a recommendation dataset")
    protocol = protocol or dataset.protocol
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    models = list(models or DEFAULT_REC_MODELS)

    train, train_times, targets, protocol_text = held_out_split(dataset, protocol)

    users = seeded_sample([u for u in targets if train.get(u)], max_users, seed)
    with tempfile.TemporaryDirectory(prefix="shoplm-eval-") as workdir:
        engine = open_temp_engine(workdir, show_progress)
        try:
            say(
                f"ingesting {len(dataset.items)} items and {sum(map(len, train.values()))} "
                "training interactions"
            )
            engine.store.upsert_items(dataset.items)
            engine.store.append_events(training_events(train, train_times))
            fit_models = [m for m in models if m != BLEND]
            if BLEND in models:
                fit_models += [m for m in engine.settings.recommend.blend if m not in fit_models]
            tuned = [m for m in fit_models if m in DEFAULT_GRIDS] if tune else []
            say(
                f"fitting {', '.join(fit_models)}"
                + (f"; tuning {', '.join(tuned)}" if tuned else "")
            )
            fit_report = engine.fit(models=fit_models, tune=tuned)
            fitted = engine.fitted()
            max_k = max(ks)
            relevant = [{fitted.item_index[t] for t in targets[u]} for u in users]
            counts = _training_users_per_item(engine, fitted)
            cold = np.array([all(counts[r] <= cold_max_users for r in rel) for rel in relevant])
            metrics: dict[str, dict[str, float]] = {}
            cold_metrics: dict[str, dict[str, float]] = {}
            timings: dict[str, float] = {}
            for model in models:
                say(f"ranking {len(users)} users with {model}")
                began = time.perf_counter()
                ranked = engine.rank_users(users, model=model, k=max_k)
                timings[model] = round(time.perf_counter() - began, 2)
                scores = ranking_metrics(ranked, relevant, ks)
                scores.pop("n_users", None)
                scores["coverage@10"] = item_coverage(ranked, fitted.n_items, k=min(10, max_k))
                metrics[model] = {name: round(float(v), 6) for name, v in scores.items()}
                if cold.any():
                    rows = np.flatnonzero(cold)
                    slice_scores = ranking_metrics(ranked[rows], [relevant[r] for r in rows], ks)
                    slice_scores.pop("n_users", None)
                    cold_metrics[model] = {n: round(float(v), 6) for n, v in slice_scores.items()}
        finally:
            engine.close()
    return {
        "task": "recommend",
        "dataset": dataset.name,
        "protocol": protocol_text
        + ("; " + TUNING_PROTOCOL.format(tuned=", ".join(tuned)) if tuned else ""),
        "n_users": len(users),
        "n_items": len(dataset.items),
        "seconds": round(time.perf_counter() - started, 2),
        "fit_seconds": fit_report["seconds"],
        "tuning_seconds": fit_report.get("tuning_seconds", 0.0),
        "model_seconds": fit_report.get("model_seconds", {}),
        "rank_seconds": timings,
        "model_params": fit_report.get("model_params", {}),
        "tuning": fit_report.get("tuning", {}),
        "model_reports": fit_report.get("model_reports", {}),
        "metrics": metrics,
        "cold_items": {
            "max_training_users": cold_max_users,
            "n_users": int(cold.sum()),
            "metrics": cold_metrics,
        },
    }


def _training_users_per_item(engine: Engine, fitted: FittedPlatform) -> np.ndarray:
    """How many training users took each item row (the cold-item slice's measure)."""
    data = getattr(fitted, "interactions", None)
    if data is None:
        data = Interactions.from_events(
            engine.store.event_columns(fitted.platform), fitted.catalog.item_ids
        )
    return data.item_popularity()


def held_out_split(
    dataset: RecDataset, protocol: str
) -> tuple[dict[str, list[str]], dict[str, list[float]] | None, dict[str, set[str]], str]:
    """(training sequences, their times, test targets per user, protocol text)."""
    if protocol == "leave_one_out":
        split = leave_one_out(dataset.sequences)
        train, train_times = split.train_for_test, None
        if dataset.timestamps:
            train_times = {u: dataset.timestamps[u][: len(s)] for u, s in train.items()}
        targets = {u: {t} for u, t in split.test_targets.items()}
        protocol_text = LOO_PROTOCOL
    else:
        if not dataset.timestamps:
            raise ValueError(f"{dataset.name} has no timestamps: use --protocol leave_one_out")
        tsplit = temporal_split(dataset.sequences, dataset.timestamps)
        train, train_times = tsplit.train_sequences, tsplit.train_timestamps
        targets = {u: set(t) for u, t in tsplit.test_targets.items() if t}
        protocol_text = TEMPORAL_PROTOCOL.format(quantile=tsplit.quantile)
    return train, train_times, targets, protocol_text
