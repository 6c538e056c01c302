"""Search and recommendation quality of the ONNX encoder backends against torch.

Runs ``evaluate_search`` (mode full, the usual held-out query split) once per encoder
backend with the methods that use the encoder (``dense`` and ``hybrid`` by default) and,
with ``--rec-data``, ``evaluate_recommend`` (leave-one-out, full ranking) with the content
model; reports each backend's metrics, their change relative to torch, and whether the
backend is within the 1% tolerance (``--tolerance``) on every method's nDCG@10: a backend
outside it is not one to use.  ``--compact 0.75`` adds each ONNX backend on the compacted
encoder (``shoplm.text.compact``: feed-forward neurons pruned to that share, calibrated on
each dataset's own item texts), labelled e.g. ``onnx-int8+ffn0.75``; ``--distill 2`` then
trains each compacted model towards the source for that many epochs (``shoplm.text.distill``),
labelled ``+distill2``.  The catalog is encoded once per backend (each backend's vectors are
cached apart, under their own model id).

``--speed 2000`` first times every variant encoding that many of ``--data``'s titles
(``bench_encode``: median of 3 passes, two cores) so one run answers both questions: the
``verdict`` says per variant its speed ratio to torch and whether search and recommendation
both stay within the tolerance, and ``meets_goal`` whether that is at ``--goal`` (4x) or more.

    .venv/bin/python bench/quality_onnx.py --data ../shared/data/homedepot_search \\
        --rec-data ../shared/data/amazon_office --backends torch,onnx-int8 --compact 0.5 \\
        --distill 2 --speed 2000 --json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bench_encode import bench_variants, load_texts, pin_two_cores
from compact_models import encoder_variants

BACKENDS = ("torch", "onnx", "onnx-int8")


def compare(runs: dict[str, dict], tolerance: float) -> dict[str, dict]:
    """Each run's metrics, change relative to torch, and whether nDCG@10 is within tolerance."""
    reference = runs["torch"]["metrics"]
    rows = {}
    for label, run in runs.items():
        changes = {
            model: {
                metric: round((value - reference[model][metric]) / reference[model][metric], 5)
                for metric, value in scores.items()
                if reference[model].get(metric)
            }
            for model, scores in run["metrics"].items()
        }
        worst = min(change["NDCG@10"] for change in changes.values())
        rows[label] = {
            "metrics": run["metrics"],
            "relative_to_torch": changes,
            "seconds": run["seconds"],
            "within_tolerance": worst >= -tolerance,
        }
        if "latency_ms" in run:
            rows[label]["latency_ms"] = run["latency_ms"]
    return rows


def scored_task(
    variants: dict[str, dict],
    tolerance: float,
    evaluate: Callable[[dict, Callable], dict],
    count_key: str,
) -> dict:
    """One task (search or recommend) under every encoder variant, compared with torch."""
    runs = {}
    for label, encoder in variants.items():
        print(f"[quality] {label}", file=sys.stderr, flush=True)
        runs[label] = evaluate(
            encoder, lambda msg, b=label: print(f"[quality] {b}: {msg}", file=sys.stderr)
        )
    reference = runs["torch"]
    return {
        "dataset": reference["dataset"],
        "protocol": reference["protocol"],
        count_key: reference[count_key],
        "backends": compare(runs, tolerance),
    }


def timed_variants(variants: dict[str, dict], data: Path, n: int, seed: int) -> dict:
    """Each variant's encoding speed on ``n`` of the dataset's titles, as ``bench_encode``."""
    import torch

    torch.set_num_threads(len(pin_two_cores()))
    texts = load_texts(data, n, seed)
    return {"n_texts": len(texts), "variants": bench_variants(variants, texts, texts[:100])}


def verdict(result: dict, goal: float) -> dict:
    """Per variant: speed ratio, whether every task stays within tolerance, and both at once."""
    tasks = [result[task]["backends"] for task in ("search", "recommend") if task in result]
    rows = {}
    for label, speed in result["speed"]["variants"].items():
        within = all(task[label]["within_tolerance"] for task in tasks)
        rows[label] = {
            "ratio_to_torch": speed["ratio_to_torch"],
            "quality_within_tolerance": within,
            "meets_goal": within and speed["ratio_to_torch"] >= goal,
        }
    return rows


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/homedepot_search"))
    parser.add_argument("--models", default="dense,hybrid")
    parser.add_argument("--rec-data", type=Path, default=None, help="a recommendation dataset")
    parser.add_argument("--rec-models", default="content")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--compact", default="", help="comma-separated shares of neurons kept")
    parser.add_argument("--distill", type=int, default=0, help="distillation epochs (compact)")
    parser.add_argument("--speed", type=int, default=0, help="titles timed per variant (0: no)")
    parser.add_argument("--goal", type=float, default=4.0, help="speed ratio to torch wanted")
    parser.add_argument("--max-queries", type=int, default=None, help="seeded subset")
    parser.add_argument("--tolerance", type=float, default=0.01, help="relative nDCG@10 loss")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from shoplm.evaluation.recommend_eval import evaluate_recommend
    from shoplm.evaluation.search_eval import evaluate_search

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "torch" not in backends:
        backends.insert(0, "torch")
    keeps = [float(k) for k in args.compact.split(",") if k.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    result: dict = {"bench": "quality_onnx", "tolerance": args.tolerance}
    search_variants = encoder_variants(backends, keeps, args.data, args.distill)
    if args.speed:
        result["speed"] = timed_variants(search_variants, args.data, args.speed, args.seed)
    result["search"] = scored_task(
        search_variants, args.tolerance,
        lambda encoder, say: evaluate_search(
            args.data, models=models, max_queries=args.max_queries, seed=args.seed,
            encoder=encoder, progress=say,
        ),
        "n_queries",
    )  # fmt: skip
    if args.rec_data is not None:
        rec_models = [m.strip() for m in args.rec_models.split(",") if m.strip()]
        result["recommend"] = scored_task(
            encoder_variants(backends, keeps, args.rec_data, args.distill), args.tolerance,
            lambda encoder, say: evaluate_recommend(
                args.rec_data, models=rec_models, seed=args.seed, encoder=encoder,
                progress=say,
            ),
            "n_users",
        )  # fmt: skip
    if args.speed:
        result["verdict"] = verdict(result, args.goal)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for task in ("search", "recommend"):
            if task not in result:
                continue
            print(f"{task}: {result[task]['dataset']}")
            for label, row in result[task]["backends"].items():
                for model, scores in row["metrics"].items():
                    change = row["relative_to_torch"][model].get("NDCG@10", 0.0)
                    print(
                        f"  {label:22s} {model:8s} nDCG@10 {scores['NDCG@10']:.4f}"
                        f" ({change:+.2%} vs torch)"
                    )
                print(f"  {label:22s} within {args.tolerance:.0%}: {row['within_tolerance']}")
        for label, row in result.get("verdict", {}).items():
            print(
                f"{label:22s} x{row['ratio_to_torch']:.2f} torch, meets goal: {row['meets_goal']}"
            )
    return result


if __name__ == "__main__":
    main()
