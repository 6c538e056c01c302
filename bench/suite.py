"""Benchmark suite: shoplm's overhead over the raw libraries as the catalog and log grow.

One command runs every stage (see ``suite_stages`` for what each compares) and writes
``suite.json``, ``suite.md`` (stage, size, shoplm median, raw-library median, ratio, peak
memory) and PNG plots into ``--out``:

    .venv/bin/python bench/suite.py --sizes 10000,100000,1000000 --events 100000,1000000 \\
        --out bench/results/

``--quick`` is a smoke run (catalogs of 1,000 and 10,000 items, 10,000 events).  Catalogs,
queries and logs are generated and seeded; item vectors are **synthetic** (category
centroid + brand offset + noise), since encoding a million titles is out of reach on a
laptop CPU.  Encoding is timed apart, on real titles when the shared amazon_office data is
present.  Every number is one process, one query at a time, on the cores it is given.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
DEFAULT_TITLES = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon_office" / "items.jsonl.gz"
)
QUICK = {"sizes": "1000,10000", "events": "10000", "queries": 50, "users": 50, "encode_n": 200}
FULL = {"sizes": "10000,100000,1000000", "events": "100000,1000000", "queries": 200,
        "users": 200, "encode_n": 1000}  # fmt: skip
LATENCY_STAGES = (
    "search_dense",
    "search_bm25",
    "search_hybrid_rerank",
    "recommend_als",
    "recommend_itemknn",
)
BUILD_STAGES = ("vector_build", "lexical_build")
TRAIN_STAGES = ("train_als", "train_itemknn")
STAGE_ORDER = ("encode_titles", "encode_query", *BUILD_STAGES, *LATENCY_STAGES, *TRAIN_STAGES)


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run at small sizes")
    parser.add_argument("--sizes", help="catalog sizes [10000,100000,1000000]")
    parser.add_argument("--events", help="interaction counts for training [100000,1000000]")
    parser.add_argument("--queries", type=int, help="search queries timed per size [200]")
    parser.add_argument("--users", type=int, help="users timed per recommender [200]")
    parser.add_argument("--encode-n", type=int, help="titles encoded [1000]; 0 skips encoding")
    parser.add_argument(
        "--recommend-events", type=int, default=200_000, help="log size for recommend stages"
    )
    parser.add_argument(
        "--train-items", type=int, default=100_000, help="catalog size of the training stages"
    )
    parser.add_argument("--titles", type=Path, default=DEFAULT_TITLES, help="items.jsonl.gz")
    parser.add_argument(
        "--exact-below", type=int, help="IndexSettings.exact_below (shoplm's default if unset)"
    )
    parser.add_argument("--hnsw-m", type=int, help="IndexSettings.hnsw_m (default if unset)")
    parser.add_argument(
        "--raw-build-max",
        type=int,
        help="above this many items, skip the raw faiss build (raw search uses shoplm's index)",
    )
    parser.add_argument(
        "--merge", type=Path, help="an earlier suite.json whose records (other sizes) to keep"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.quick:
        args.recommend_events = min(args.recommend_events, 10_000)
        args.train_items = min(args.train_items, 5_000)
    return args


def _log(message: str) -> None:
    print(f"[suite {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """All stages; returns the report (also written to ``args.out``)."""
    os.environ.setdefault("SHOPLM_NO_PROGRESS", "1")
    from suite_data import make_catalog, real_titles
    from suite_stages import catalog_stages, encode_stages, recommend_stages, train_stages

    from shoplm.config import IndexSettings
    from shoplm.recommend.als import ALS

    index_settings = IndexSettings(
        **{
            key: value
            for key, value in (("exact_below", args.exact_below), ("hnsw_m", args.hnsw_m))
            if value is not None
        }
    )
    als_params = dict(ALS().params)  # shoplm's defaults, given to implicit as well
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    records: list[dict] = []
    began = time.perf_counter()
    merged: list[dict] = []
    if args.merge is not None:  # kept unless this run measures the same stage and size
        merged = json.loads(args.merge.read_text())["records"]

    if args.encode_n > 0:
        if args.titles.is_file():
            titles, source = real_titles(str(args.titles), args.encode_n), args.titles.parent.name
        else:
            titles, source = make_catalog(args.encode_n, args.seed).titles, "generated"
        queries = list(dict.fromkeys(" ".join(t.split()[:3]) for t in titles))[:100]
        _log(f"encoding {len(titles)} {source} titles")
        records += encode_stages(titles, source, queries)

    def partial() -> None:  # a long run keeps what it measured so far
        write(
            build_report(args, index_settings, als_params, cores, began, records, merged), args.out
        )

    sizes = sorted(_ints(args.sizes))

    def catalog(n: int) -> None:
        records.extend(
            catalog_stages(
                n, args.queries, index_settings, args.seed, cores or 1, _log, args.raw_build_max
            )
        )
        partial()
        records.extend(
            recommend_stages(n, args.recommend_events, args.users, als_params, args.seed, _log)
        )
        partial()

    # The largest catalog goes last: it takes longest, and what ran before it is saved.
    for n in sizes[:-1]:
        catalog(n)
    for m in _ints(args.events):
        records.extend(train_stages(m, args.train_items, als_params, args.seed, _log))
        partial()
    if sizes:
        catalog(sizes[-1])
    final = build_report(args, index_settings, als_params, cores, began, records, merged)
    write(final, args.out, with_plots=not args.no_plots)
    return final


def build_report(
    args: argparse.Namespace,
    index_settings: Any,
    als_params: dict[str, Any],
    cores: int | None,
    began: float,
    records: list[dict],
    merged: Sequence[dict] = (),
) -> dict[str, Any]:
    fresh = {(r["stage"], r["size"]) for r in records}
    return {
        "bench": "suite",
        "vectors": "synthetic (category centroid + brand offset + noise, 384-d, unit)",
        "machine": {
            "cores": cores,
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "settings": {
            "sizes": _ints(args.sizes),
            "events": _ints(args.events),
            "queries": args.queries,
            "users": args.users,
            "recommend_events": args.recommend_events,
            "train_items": args.train_items,
            "index": index_settings.model_dump(),
            "als": als_params,
            "seed": args.seed,
        },
        "seconds": round(time.perf_counter() - began, 1),
        "records": [r for r in merged if (r["stage"], r["size"]) not in fresh] + list(records),
    }


# -- output ----------------------------------------------------------------------------------
def _time(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def _size(value: int) -> str:
    for step, suffix in ((1_000_000, "M"), (1_000, "k")):
        if value >= step and value % (step // 10) == 0:
            return f"{value / step:g}{suffix}"
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| stage | size | shoplm median | raw median | ratio | shoplm peak RSS (+extra) "
        "| raw peak RSS (+extra) | raw library |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    order = {stage: i for i, stage in enumerate(STAGE_ORDER)}
    for r in sorted(report["records"], key=lambda r: (order.get(r["stage"], 99), r["size"])):
        mine, theirs = r["shoplm"], r["raw"]
        raw_time = _time(theirs["median"], theirs["unit"]) if theirs else "not run"
        raw_rss = (
            f"{theirs['peak_rss_mb']:.0f} MB (+{theirs['extra_rss_mb']:.0f})" if theirs else "-"
        )
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        lines.append(
            f"| {r['stage']} | {_size(r['size'])} | {_time(mine['median'], mine['unit'])} "
            f"| {raw_time} | {ratio} "
            f"| {mine['peak_rss_mb']:.0f} MB (+{mine['extra_rss_mb']:.0f}) | {raw_rss} "
            f"| {r['raw_library']} |"
        )
    settings = report["settings"]
    notes = [
        f"Vectors: {report['vectors']}. Sizes are items (catalog stages), events (train_*) "
        f"or texts (encode_*). Latency stages time one call at a time "
        f"({settings['queries']} queries, {settings['users']} users); ratio = shoplm / raw.",
        f"Index settings: {settings['index']}; ALS: {settings['als']}.",
        f"Machine: {report['machine']['cores']} cores; suite took {report['seconds']:.0f} s.",
    ]
    return "\n".join(["# shoplm benchmark suite", "", *headline(report), *lines, "", *notes, ""])


def headline(report: dict[str, Any]) -> list[str]:
    """Search p50 at the largest catalog, with the real query encoding added when measured."""
    records = report["records"]
    searches = [r for r in records if r["stage"] == "search_hybrid_rerank"]
    if not searches:
        return []
    top = max(searches, key=lambda r: r["size"])
    mine = top["shoplm"]
    line = (
        f"Search (hybrid-rerank, {top['index']} index) at {_size(top['size'])} items: "
        f"p50 {mine['median']:.1f} ms, p99 {mine['p99']:.1f} ms on synthetic vectors"
    )
    encode = [r for r in records if r["stage"] == "encode_query"]
    if encode:
        query = encode[0]["shoplm"]["median"]
        line += (
            f"; plus the real MiniLM query encoding (p50 {query:.1f} ms): "
            f"about {mine['median'] + query:.1f} ms"
        )
    return [line + ".", ""]


def _series(records: list[dict], stage: str, side: str) -> tuple[list[int], list[float]]:
    rows = sorted(
        (r["size"], r[side]["median"]) for r in records if r["stage"] == stage and r[side]
    )
    return [s for s, _ in rows], [v for _, v in rows]


def plots(report: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, stages, xlabel, ylabel in (
        ("latency_vs_size.png", LATENCY_STAGES, "catalog items", "median latency (ms)"),
        ("build_vs_size.png", BUILD_STAGES, "catalog items", "build time (s)"),
        ("training_vs_events.png", TRAIN_STAGES, "events", "fit time (s)"),
    ):
        present = [s for s in stages if any(r["stage"] == s for r in report["records"])]
        if not present:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for i, stage in enumerate(present):
            colour = f"C{i}"
            for side, style in (("shoplm", "-o"), ("raw", "--x")):
                xs, ys = _series(report["records"], stage, side)
                ax.plot(xs, ys, style, color=colour, label=f"{stage} ({side})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{name[:-4].replace('_', ' ')} (solid: shoplm, dashed: raw library)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append(name)
    return written


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write(report: dict[str, Any], out: Path, with_plots: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if with_plots:
        report["plots"] = plots(report, out)
    (out / "suite.json").write_text(json.dumps(_clean(report), indent=2))
    (out / "suite.md").write_text(markdown(report))
    _log(f"wrote {out / 'suite.json'} and {out / 'suite.md'}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    report = run(parse_args(argv))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
