"""Knowledge-graph evaluation: the "kg" source against item-kNN, and explanation coverage.

Same protocol as ``recommend_eval`` (held-out split, full ranking, training items excluded),
driven through the Engine: the dataset's external triples go in with
``Engine.add_knowledge`` before the fit, exactly as a shop would add them.  Coverage is the
share of top-k recommendations for which ``Engine.explain`` returns a path that is checked
here, edge by edge, against the fitted graph, and that starts at one of the user's
training items and ends at the recommended item.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from shoplm.datasets import RecDataset, load_dataset
from shoplm.engine import BLEND, Engine
from shoplm.evaluation.metrics import item_coverage, ranking_metrics
from shoplm.evaluation.recommend_eval import PROTOCOLS, held_out_split
from shoplm.evaluation.runner import Progress, open_temp_engine, seeded_sample, training_events
from shoplm.graph.model import ItemGraph

DEFAULT_KG_MODELS = ("kg", "itemknn", BLEND)


def path_checks_out(graph: ItemGraph, explanation: dict, history: set[str], item_id: str) -> bool:
    """An explanation is faithful when its path starts at a history item, ends at the
    recommended item and every edge on it exists in the graph with the stated type."""
    path, edges = explanation.get("path") or [], explanation.get("edges") or []
    if len(path) < 2 or len(edges) != len(path) - 1:
        return False
    first, last = path[0], path[-1]
    if first["type"] != "item" or last["type"] != "item":
        return False
    if graph.node_keys[first["node"]] not in history or graph.node_keys[last["node"]] != item_id:
        return False
    nodes = [step["node"] for step in path]
    for edge, a, b in zip(edges, nodes[:-1], nodes[1:], strict=True):
        if (edge["source"], edge["target"]) != (a, b):
            return False
        if not graph.has_edge(a, b, edge["type"]):
            return False
    return True


def explanation_coverage(
    engine: Engine,
    users: Sequence[str],
    train: dict[str, list[str]],
    model: str = BLEND,
    k: int = 10,
) -> dict:
    """Share of the users' top-k recommendations with a faithful explanation, and its kinds."""
    graph = engine.graph()
    fitted = engine.fitted()
    ranked = engine.rank_users(list(users), model=model, k=k)
    kinds: Counter[str] = Counter()
    faithful = total = 0
    for user, rows in zip(users, ranked, strict=True):
        history = set(train[user])
        for row in rows.tolist():
            if row < 0:
                continue
            item_id = fitted.catalog.item_ids[row]
            explanation = engine.explain(user, item_id)
            total += 1
            if path_checks_out(graph, explanation, history, item_id):
                faithful += 1
                kinds[explanation["kind"]] += 1
            else:
                kinds["unexplained"] += 1
    return {
        "model": model,
        "k": k,
        "n_users": len(users),
        "recommendations": total,
        "faithful": faithful,
        "coverage": round(faithful / total, 6) if total else 0.0,
        "kinds": dict(kinds.most_common()),
    }


def evaluate_kg(
    data: str | Path,
    subset: str | None = None,
    models: Sequence[str] = DEFAULT_KG_MODELS,
    protocol: str | None = None,
    ks: Sequence[int] = (10, 20),
    max_users: int | None = None,
    coverage_users: int | None = 500,
    coverage_models: Sequence[str] = (BLEND, "kg"),
    kg_blend_weights: Sequence[float] = (1.0,),
    seed: int = 42,
    show_progress: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Fit kg and the other models on the training split, rank the test users, and check
    the explanations of the top 10 for a seeded sample of ``coverage_users`` users.

    Each weight in ``kg_blend_weights`` adds a ``blend+kg@<w>`` row: the engine's default
    blend with kg added at that weight (a first with/without-kg ablation; the learned
    hybrid ranker's ``hybrid`` / ``hybrid-no-kg`` rows belong to ``recommend_eval``).
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    dataset = load_dataset(data, subset)
    if not isinstance(dataset, RecDataset):
        raise ValueError(f"{data} holds a {type(dataset).__name__}, not a recommendation dataset")
    protocol = protocol or dataset.protocol
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    train, train_times, targets, protocol_text = held_out_split(dataset, protocol)
    users = seeded_sample([u for u in targets if train.get(u)], max_users, seed)
    explain_users = seeded_sample(users, coverage_users, seed)

    with tempfile.TemporaryDirectory(prefix="shoplm-kg-eval-") as workdir:
        engine = open_temp_engine(workdir, show_progress)
        try:
            engine.store.upsert_items(dataset.items)
            engine.store.append_events(training_events(train, train_times))
            knowledge = None
            if dataset.kg is not None:
                knowledge = engine.add_knowledge(dataset.kg.triples, dataset.kg.item_entity)
            fit_models = [m for m in models if m != BLEND]
            if BLEND in models or BLEND in coverage_models:
                fit_models += [m for m in engine.settings.recommend.blend if m not in fit_models]
            say(f"fitting {', '.join(fit_models)}")
            fit_report = engine.fit(models=fit_models)
            fitted = engine.fitted()
            relevant = [{fitted.item_index[t] for t in targets[u]} for u in users]
            metrics: dict[str, dict[str, float]] = {}
            timings: dict[str, float] = {}
            for model in models:
                say(f"ranking {len(users)} users with {model}")
                began = time.perf_counter()
                ranked = engine.rank_users(users, model=model, k=max(ks))
                timings[model] = round(time.perf_counter() - began, 2)
                scores = ranking_metrics(ranked, relevant, ks)
                scores.pop("n_users", None)
                scores["coverage@10"] = item_coverage(ranked, fitted.n_items, k=min(10, max(ks)))
                metrics[model] = {name: round(float(v), 6) for name, v in scores.items()}
            base_blend = dict(engine.settings.recommend.blend)
            for weight in kg_blend_weights if "kg" in fitted.models else ():
                label = f"blend+kg@{weight:g}"
                say(f"ranking {len(users)} users with {label}")
                engine.settings.recommend.blend = {**base_blend, "kg": float(weight)}
                ranked = engine.rank_users(users, model=BLEND, k=max(ks))
                scores = ranking_metrics(ranked, relevant, ks)
                scores.pop("n_users", None)
                scores["coverage@10"] = item_coverage(ranked, fitted.n_items, k=min(10, max(ks)))
                metrics[label] = {name: round(float(v), 6) for name, v in scores.items()}
            engine.settings.recommend.blend = base_blend
            explanations = {}
            for model in coverage_models:
                say(f"explaining the top 10 of {model} for {len(explain_users)} users")
                began = time.perf_counter()
                explanations[model] = explanation_coverage(engine, explain_users, train, model)
                explanations[model]["seconds"] = round(time.perf_counter() - began, 2)
            graph_counts = engine.graph().counts()
        finally:
            engine.close()
    return {
        "task": "recommend-kg",
        "dataset": dataset.name,
        "protocol": protocol_text,
        "n_users": len(users),
        "n_items": len(dataset.items),
        "seconds": round(time.perf_counter() - started, 2),
        "fit_seconds": fit_report["seconds"],
        "rank_seconds": timings,
        "knowledge": knowledge,
        "graph": graph_counts,
        "metrics": metrics,
        "explanations": explanations,
    }
