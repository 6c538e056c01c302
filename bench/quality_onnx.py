"""Search quality of the ONNX encoder backends against torch, under the search evaluation.

Runs ``evaluate_search`` (mode full, the usual held-out query split) once per encoder
backend with the methods that use the encoder (``dense`` and ``hybrid`` by default), and
reports each backend's nDCG@10 / MRR@10 / Recall@100, their change relative to torch, and
whether the backend is within the 1% tolerance (``--tolerance``) on every method's nDCG@10:
a backend outside it is not one to use.  The catalog is encoded once per backend (the
vectors of each backend are cached apart, under their own model id).

    nice -n 10 .venv/bin/python bench/quality_onnx.py --data ../shared/data/homedepot_search \\
        --json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

BACKENDS = ("torch", "onnx", "onnx-int8")


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/homedepot_search"))
    parser.add_argument("--models", default="dense,hybrid")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--max-queries", type=int, default=None, help="seeded subset")
    parser.add_argument("--tolerance", type=float, default=0.01, help="relative nDCG@10 loss")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from shoplm.evaluation.search_eval import evaluate_search

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "torch" not in backends:
        backends.insert(0, "torch")
    runs = {}
    for backend in backends:
        print(f"[quality] {backend}", file=sys.stderr, flush=True)
        runs[backend] = evaluate_search(
            args.data,
            models=models,
            max_queries=args.max_queries,
            seed=args.seed,
            encoder={"backend": backend},
            progress=lambda msg, b=backend: print(f"[quality] {b}: {msg}", file=sys.stderr),
        )
    reference = runs["torch"]["metrics"]
    result: dict = {
        "bench": "quality_onnx",
        "dataset": runs["torch"]["dataset"],
        "protocol": runs["torch"]["protocol"],
        "n_queries": runs["torch"]["n_queries"],
        "n_items": runs["torch"]["n_items"],
        "tolerance": args.tolerance,
        "backends": {},
    }
    for backend, run in runs.items():
        changes = {
            model: {
                metric: round((value - reference[model][metric]) / reference[model][metric], 5)
                for metric, value in scores.items()
                if reference[model].get(metric)
            }
            for model, scores in run["metrics"].items()
        }
        worst = min(change["NDCG@10"] for change in changes.values())
        result["backends"][backend] = {
            "metrics": run["metrics"],
            "relative_to_torch": changes,
            "latency_ms": run["latency_ms"],
            "seconds": run["seconds"],
            "within_tolerance": worst >= -args.tolerance,
        }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['dataset']}: {result['n_queries']} held-out queries")
        for backend, row in result["backends"].items():
            for model, scores in row["metrics"].items():
                change = row["relative_to_torch"][model].get("NDCG@10", 0.0)
                print(
                    f"  {backend:10s} {model:8s} nDCG@10 {scores['NDCG@10']:.4f}"
                    f" ({change:+.2%} vs torch)"
                )
            print(f"  {backend:10s} within {args.tolerance:.0%}: {row['within_tolerance']}")
    return result


if __name__ == "__main__":
    main()
