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
  ``cold_max_users`` training users (``cold_items``), where content models should shine;
- seen transitions: and again for users whose newest training item is followed by their
  test item somewhere in the training sequences (``seen_transitions``): the step a model can
  have memorised, against the new steps it must generalise to;
- knowledge graph: a dataset's external triples and item -> entity links go in with
  ``Engine.add_knowledge`` before the fit, as a shop would add them.  ``kg`` walks the
  platform's item graph (catalog, knowledge, and behaviour edges made from the training
  split only); ``hybrid`` has kg among its sources and ``hybrid-no-kg`` is the same hybrid
  without it, fitted in the same run on the same source models (the ablation);
- explanations: for a seeded sample of test users, every top-10 item of ``kg`` and the
  hybrids is explained by a path in the item graph from one of the user's training items,
  and the path is checked edge by edge against the graph (``explanations``: the share with
  a faithful path, and the kinds of path).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shoplm.datasets import RecDataset, load_dataset
from shoplm.engine import BLEND, Engine
from shoplm.evaluation.metrics import (
    RANKING_METRICS,
    item_coverage,
    ranking_metrics,
    ranking_metrics_per_user,
)
from shoplm.evaluation.runner import Progress, open_temp_engine, seeded_sample, training_events
from shoplm.evaluation.splits import leave_one_out, temporal_split
from shoplm.fitted import FittedPlatform
from shoplm.graph.explain import Explainer, is_faithful
from shoplm.graph.model import ItemGraph
from shoplm.interactions import Interactions
from shoplm.recommend.hybrid import DEFAULT_SOURCES, Hybrid, HybridNoKG
from shoplm.recommend.registry import MODEL_CLASSES
from shoplm.recommend.tuning import DEFAULT_GRIDS

DEFAULT_REC_MODELS = (
    "popularity",
    "itemknn",
    "als",
    "bpr",
    "content",
    "kg",
    "sasrec",
    "sasrec-text",
    HybridNoKG.name,
    Hybrid.name,
    BLEND,
)
HYBRIDS = (HybridNoKG.name, Hybrid.name)
# Lists whose explanations are checked, and how many test users (seeded) they are checked for.
EXPLAINED_MODELS = ("kg", *HYBRIDS)
EXPLAIN_USERS = 500
EXPLAIN_K = 10
# A test target seen by at most this many training users is a cold item.
COLD_MAX_USERS = 5
PROTOCOLS = ("leave_one_out", "temporal")
LOO_PROTOCOL = "leave-one-out: last item of each user is the test target; full ranking over all items; the user's training items are excluded"  # noqa: E501
TUNING_PROTOCOL = "hyperparameters: {tuned} chosen by NDCG@10 on the validation item (each user's newest training item, i.e. the second-to-last item under leave-one-out, predicted from the items before it) over a fixed grid, then refitted on all training items; sasrec/sasrec-text pick their epoch and content weight on the same validation item, and the hybrid's ranker learns on it; the test item is never used for any choice"  # noqa: E501
TEMPORAL_PROTOCOL = "temporal: global cutoff at the {quantile:.0%} time quantile; targets are items a user first meets after it; full ranking; training items excluded"  # noqa: E501
KG_PROTOCOL = "knowledge graph: {triples} external triples and {links} item-entity links added before the fit; kg walks catalog + knowledge edges and behaviour edges of the training split only (inside the hybrid's ranker training: of the validation split only); hybrid-no-kg is hybrid without the kg source, same fitted sources"  # noqa: E501
GRAPH_PROTOCOL = "item graph: the dataset has no external triples, so kg walks catalog edges (brand, category path, attributes) and behaviour edges of the training split only (inside the hybrid's ranker training: of the validation split only); hybrid-no-kg is hybrid without the kg source, same fitted sources"  # noqa: E501
EXPLAIN_PROTOCOL = "explanations: top-{k} of {models} for {users} seeded test users, each explained by a path from one of the user's training items, checked edge by edge against the graph"  # noqa: E501


def evaluate_recommend(
    data: str | Path | RecDataset,
    subset: str | None = None,
    models: Sequence[str] | None = None,
    protocol: str | None = None,
    ks: Sequence[int] = (5, 10, 20),
    max_users: int | None = None,
    tune: bool = True,
    cold_max_users: int = COLD_MAX_USERS,
    explain_users: int | None = EXPLAIN_USERS,
    seed: int = 42,
    encoder: dict | None = None,
    per_user: str | None = None,
    embedding_cache: Path | None = None,
    model_params: Mapping[str, Mapping[str, Any]] | None = None,
    show_progress: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Fit every model on the training split and rank the whole catalog for test users.

    ``data`` is a dataset folder or an already loaded ``RecDataset``; ``encoder`` overrides
    encoder settings, e.g. ``{"backend": "onnx-int8"}``.

    With ``tune`` the models that have a tuning grid get their parameters chosen on the
    validation split first.  Metrics are also reported on the cold-item slice: users whose
    test item was taken by at most ``cold_max_users`` training users, and on the
    seen-transition slice (:func:`seen_transitions`).  The top 10 of kg and
    the hybrids are explained and checked for ``explain_users`` seeded test users (None: all).
    ``per_user`` names a metric (e.g. ``"NDCG@10"``) to return for each test user as well,
    under ``"per_user"``, in the same user order for every model (for paired comparisons);
    ``cold_items`` and ``seen_transitions`` then also give their users' positions in those
    rows (``"rows"``).
    ``embedding_cache`` is the vector cache's file (None: the machine's, see
    :func:`~shoplm.evaluation.runner.open_temp_engine`).  ``model_params`` sets models'
    parameters as a home's ``recommend.params`` does (tuning still chooses the ones on a
    model's grid), e.g. ``{"sasrec-text": {"text_vectors": "home"}}``.
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    dataset = data if isinstance(data, RecDataset) else load_dataset(data, subset)
    if not isinstance(dataset, RecDataset):
        raise ValueError(f"{data} holds a {type(dataset).__name__}, not a recommendation dataset")
    protocol = protocol or dataset.protocol
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    models = list(dict.fromkeys(models or DEFAULT_REC_MODELS))
    names = [f"{m}@{k}" for k in ks for m in RANKING_METRICS]
    if per_user is not None and per_user not in names:
        raise ValueError(f"unknown per-user metric {per_user!r}; choose from {names}")
    unknown = [m for m in models if m != BLEND and m not in MODEL_CLASSES]
    if unknown:
        known = ", ".join(sorted([*MODEL_CLASSES, BLEND]))
        raise ValueError(f"unknown model(s) {unknown}; known: {known}")

    train, train_times, targets, protocol_text = held_out_split(dataset, protocol)

    users = seeded_sample([u for u in targets if train.get(u)], max_users, seed)
    explain_sample = seeded_sample(users, explain_users, seed)
    with tempfile.TemporaryDirectory(prefix="shoplm-eval-") as workdir:
        engine = open_temp_engine(workdir, show_progress, encoder, embedding_cache)
        for name, params in (model_params or {}).items():
            configured = engine.settings.recommend.params
            configured[name] = {**configured.get(name, {}), **params}
        try:
            say(
                f"ingesting {len(dataset.items)} items and {sum(map(len, train.values()))} "
                "training interactions"
            )
            engine.store.upsert_items(dataset.items)
            engine.store.append_events(training_events(train, train_times))
            knowledge = None
            if dataset.kg is not None:
                say(f"adding {len(dataset.kg.triples)} knowledge triples")
                knowledge = engine.add_knowledge(dataset.kg.triples, dataset.kg.item_entity)
            fit_models = fit_list(models, engine.settings.recommend.blend)
            tuned = [m for m in fit_models if m in DEFAULT_GRIDS] if tune else []
            say(
                f"fitting {', '.join(fit_models)}"
                + (f"; tuning {', '.join(tuned)}" if tuned else "")
            )
            fit_report = engine.fit(models=fit_models, tune=tuned)
            fitted = engine.fitted()
            for name in HYBRIDS:  # the source parameters each hybrid really used
                if name in fitted.models:
                    chosen = fit_report.setdefault("model_params", {}).setdefault(name, {})
                    chosen["sources"] = fitted.models[name].params["sources"]
            max_k = max(ks)
            relevant = [{fitted.item_index[t] for t in targets[u]} for u in users]
            counts = _training_users_per_item(engine, fitted)
            cold = np.array([all(counts[r] <= cold_max_users for r in rel) for rel in relevant])
            seen = seen_transitions(train, users, targets)
            metrics: dict[str, dict[str, float]] = {}
            user_rows: dict[str, list[float]] = {}
            cold_metrics: dict[str, dict[str, float]] = {}
            seen_metrics: dict[str, dict[str, float]] = {}
            timings: dict[str, float] = {}
            explanations: dict[str, dict] = {}
            graph = engine.graph()
            sample_rows = np.searchsorted(users, explain_sample)
            for model in models:
                say(f"ranking {len(users)} users with {model}")
                began = time.perf_counter()
                ranked = engine.rank_users(users, model=model, k=max_k)
                timings[model] = round(time.perf_counter() - began, 2)
                if model in EXPLAINED_MODELS and explain_sample:
                    say(f"explaining {model}'s top {EXPLAIN_K} for {len(explain_sample)} users")
                    explanations[model] = explanation_coverage(
                        graph,
                        ranked[sample_rows, :EXPLAIN_K],
                        fitted.catalog.item_ids,
                        [train[u] for u in explain_sample],
                    )
                user_scores = ranking_metrics_per_user(ranked, relevant, ks)
                if per_user is not None:
                    user_rows[model] = [round(float(v), 6) for v in user_scores[per_user]]
                scores = {name: values.mean() for name, values in user_scores.items()}
                scores["coverage@10"] = item_coverage(ranked, fitted.n_items, k=min(10, max_k))
                metrics[model] = {name: round(float(v), 6) for name, v in scores.items()}
                for members, part in ((cold, cold_metrics), (seen, seen_metrics)):
                    if members.any():
                        part[model] = _slice_metrics(ranked, relevant, members, ks)
            graph_counts = graph.counts()
        finally:
            engine.close()
    explained = [m for m in models if m in explanations]
    notes = [protocol_text]
    if tuned:
        notes.append(TUNING_PROTOCOL.format(tuned=", ".join(tuned)))
    if knowledge is not None:
        notes.append(KG_PROTOCOL.format(triples=knowledge["triples"], links=knowledge["links"]))
    elif {"kg", *HYBRIDS} & set(fit_models):
        notes.append(GRAPH_PROTOCOL)
    if explained:
        notes.append(
            EXPLAIN_PROTOCOL.format(
                k=EXPLAIN_K, models=", ".join(explained), users=len(explain_sample)
            )
        )
    return {
        "task": "recommend",
        "dataset": dataset.name,
        "protocol": "; ".join(notes),
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
            # where the slice's users sit in the per-user rows, for paired slice comparisons
            **({"rows": [int(r) for r in np.flatnonzero(cold)]} if per_user else {}),
        },
        "seen_transitions": {
            "n_users": int(seen.sum()),
            "metrics": seen_metrics,
            **({"rows": [int(r) for r in np.flatnonzero(seen)]} if per_user else {}),
        },
        "knowledge": knowledge,
        "graph": graph_counts,
        "explanations": explanations,
        **({"per_user": {"metric": per_user, "models": user_rows}} if per_user else {}),
    }


def fit_list(models: Sequence[str], blend: Mapping[str, float]) -> list[str]:
    """What to fit for ``models``: the blend's parts, the hybrids' sources, the hybrids last.

    The hybrids' sources are fitted (and tuned) as platform models first, so ``hybrid`` and
    ``hybrid-no-kg`` rank with the very same source models and differ only by kg.
    """
    fit = [m for m in models if m != BLEND and m not in HYBRIDS]
    if BLEND in models:
        fit += [m for m in blend if m not in fit]
    hybrids = [m for m in HYBRIDS if m in models]
    if hybrids:
        fit += [m for m in DEFAULT_SOURCES if m not in fit]
    return fit + hybrids


def explanation_coverage(
    graph: ItemGraph,
    ranked: np.ndarray,
    item_ids: Sequence[str],
    histories: Sequence[Sequence[str]],
) -> dict:
    """Share of the ranked items (rows = users) with a faithful explanation path.

    Faithful: the path starts at one of the user's items, ends at the recommended item, and
    every edge on it exists in ``graph`` with the stated type (``graph.explain.is_faithful``).
    """
    explainer = graph.cached("explainer", lambda: Explainer(graph))
    kinds: Counter[str] = Counter()
    faithful = total = 0
    for rows, history in zip(ranked, histories, strict=True):
        for row in rows.tolist():
            if row < 0:
                continue
            total += 1
            item_id = item_ids[row]
            found = explainer.explain(history, item_id)
            if found is not None and is_faithful(
                graph, history, item_id, found.nodes, found.edge_types
            ):
                faithful += 1
                kinds[found.kind] += 1
            else:
                kinds["unexplained"] += 1
    return {
        "k": int(ranked.shape[1]) if ranked.ndim == 2 else 0,
        "n_users": len(histories),
        "recommendations": total,
        "faithful": faithful,
        "coverage": round(faithful / total, 6) if total else 0.0,
        "kinds": dict(kinds.most_common()),
    }


def seen_transitions(
    train: Mapping[str, Sequence[str]],
    users: Sequence[str],
    targets: Mapping[str, set[str]],
) -> np.ndarray:
    """bool per user: is a test target of theirs the item right after their newest training
    item somewhere in the training sequences (any user's)?

    Such a step can be remembered from the training data; the others must be generalised
    to.  A model that learns what follows what gains on the first and may lose on the second:
    on amazon_office most test steps are new ones.
    """
    following: dict[str, set[str]] = {}
    for sequence in train.values():
        for before, after in itertools.pairwise(sequence):
            following.setdefault(before, set()).add(after)
    return np.array(
        [bool(targets[u] & following.get(train[u][-1], set())) for u in users], dtype=bool
    )


def _slice_metrics(
    ranked: np.ndarray, relevant: Sequence[set[int]], members: np.ndarray, ks: Sequence[int]
) -> dict[str, float]:
    """The ranking metrics over the users ``members`` marks (rows of ``ranked``)."""
    rows = np.flatnonzero(members)
    scores = ranking_metrics(ranked[rows], [relevant[r] for r in rows], ks)
    scores.pop("n_users", None)
    return {name: round(float(value), 6) for name, value in scores.items()}


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
