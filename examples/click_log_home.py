"""A shop home fed a click log made from Home Depot's judgments, and its search scored.

The README's "Search learned from a click log, through a home" comes from these steps:

    python examples/click_log_home.py build --data ../shared/data/homedepot_search --home hd
    shoplm fit --home hd --models popularity
    python examples/click_log_home.py score --data ../shared/data/homedepot_search --home hd \
        --out frozen.json
    shoplm finetune --home hd --task search --epochs 1 --max-pairs 2400 --max-seq-length 48 \
        --validate-every 25 --max-valid 300
    shoplm fit --home hd --models popularity
    python examples/click_log_home.py score --data ../shared/data/homedepot_search --home hd \
        --out tuned.json
    python examples/click_log_home.py compare frozen.json tuned.json

``build`` stores every title and, as the click log, one ``click`` event (carrying the query)
for each product judged at least 2.5 for a query of the training half (queries split by id,
seed 42, as ``shoplm evaluate search`` splits them).  ``score`` runs the home's own
``Engine.search`` on the held-out half's queries with at least 5 judged products (gain =
relevance - 1, unjudged products irrelevant) and keeps each query's nDCG@10 for ``compare``,
which prints paired differences.  The log is simulated from judgments, not real clicks.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from shoplm.datasets import SearchDataset, load_dataset
from shoplm.engine import Engine
from shoplm.evaluation.metrics import search_metrics_per_query
from shoplm.evaluation.paired import describe, paired_difference
from shoplm.evaluation.search_eval import GAIN_OFFSET, split_queries

CLICKED = 2.5  # the lowest judgment that counts as a click
MIN_JUDGED = 5
METHODS = ("dense", "hybrid-rerank")


def _halves(data_folder: str) -> tuple[SearchDataset, list, list]:
    dataset = load_dataset(data_folder)
    if not isinstance(dataset, SearchDataset):
        raise SystemExit(f"{data_folder} is not a search dataset")
    train, held_out = split_queries(dataset.queries, 0.5, seed=42)
    return dataset, train, [q for q in held_out if len(q.judgments) >= MIN_JUDGED]


def build(data_folder: str, home: Path) -> None:
    """Store the catalog and the training half's judged products as click events."""
    dataset, train, _ = _halves(data_folder)
    events = [
        {"user_id": f"searcher-{n}", "item_id": item_id, "type": "click", "query": query.text,
         "timestamp": 1_700_000_000 + n}
        for n, query in enumerate(train)
        for item_id, relevance in sorted(query.judgments.items())
        if relevance >= CLICKED
    ]  # fmt: skip
    with Engine.open(home) as engine:
        stored = engine.upsert_items(dataset.items)
        added = engine.add_events(events)
    print(
        f"{stored.inserted + stored.updated + stored.unchanged} items, {added.added} click events"
    )


def score(data_folder: str, home: Path, out: Path) -> None:
    """nDCG@10, MRR@10 and Recall@100 of each method on the held-out queries."""
    _, _, queries = _halves(data_folder)
    result: dict = {"queries": len(queries)}
    with Engine.open(home) as engine:
        result["encoder_id"] = engine.fitted().encoder_id
        for method in METHODS:
            ranked = [
                [hit.item_id for hit in engine.search(q.text, k=100, method=method)]
                for q in queries
            ]
            per_query, _ = search_metrics_per_query(
                ranked, [q.judgments for q in queries], gain_offset=GAIN_OFFSET
            )
            result[method] = {name: round(float(v.mean()), 4) for name, v in per_query.items()}
            result[method]["per_query_ndcg@10"] = [round(float(v), 6) for v in per_query["NDCG@10"]]
    out.write_text(json.dumps(result))
    print(
        json.dumps(
            {m: {k: v for k, v in result[m].items() if "per_query" not in k} for m in METHODS}
        )
    )


def compare(baseline: Path, candidate: Path) -> None:
    """Paired nDCG@10 differences, method by method."""
    before, after = json.loads(baseline.read_text()), json.loads(candidate.read_text())
    for method in METHODS:
        gain = paired_difference(
            before[method]["per_query_ndcg@10"], after[method]["per_query_ndcg@10"]
        )
        print(
            f"{method}: {before[method]['NDCG@10']} -> {after[method]['NDCG@10']} "
            f"({gain['relative']:+.1%}), {describe(gain)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("build", "score"):
        command = commands.add_parser(name)
        command.add_argument("--data", required=True, help="the homedepot_search folder")
        command.add_argument("--home", required=True, type=Path)
        if name == "score":
            command.add_argument("--out", required=True, type=Path)
    paired = commands.add_parser("compare")
    paired.add_argument("baseline", type=Path)
    paired.add_argument("candidate", type=Path)
    args = parser.parse_args()
    if args.command == "build":
        build(args.data, args.home)
    elif args.command == "score":
        score(args.data, args.home, args.out)
    else:
        compare(args.baseline, args.candidate)


if __name__ == "__main__":
    main()
