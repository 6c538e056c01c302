"""The benchmark suite still runs end to end: a tiny in-process run of every stage."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parents[2] / "bench" / "suite.py"
STAGES = {
    "encode_titles",
    "encode_query",
    "vector_build",
    "lexical_build",
    "search_dense",
    "search_bm25",
    "search_hybrid_rerank",
    "recommend_als",
    "recommend_itemknn",
    "train_als",
    "train_itemknn",
}


def _load_suite():
    spec = importlib.util.spec_from_file_location("bench_suite", SUITE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_suite"] = module
    spec.loader.exec_module(module)
    return module


def test_quick_suite_reports_every_stage_with_ratios(tmp_path: Path) -> None:
    suite = _load_suite()
    report = suite.main(
        [
            "--quick",
            "--sizes", "300,600",
            "--events", "3000",
            "--queries", "8",
            "--users", "8",
            "--encode-n", "4",
            "--recommend-events", "3000",
            "--train-items", "400",
            "--exact-below", "500",  # the 600-item catalog takes the HNSW path
            "--out", str(tmp_path),
        ]
    )  # fmt: skip
    records = report["records"]
    assert {r["stage"] for r in records} == STAGES
    for r in records:
        assert r["shoplm"]["median"] > 0 and r["raw"]["median"] > 0, r["stage"]
        assert r["ratio"] > 0, r["stage"]
        assert r["ratio"] == pytest.approx(r["shoplm"]["median"] / r["raw"]["median"])
        assert r["shoplm"]["peak_rss_mb"] > 0 and r["raw"]["peak_rss_mb"] > 0
    kinds = {r["size"]: r["index"] for r in records if r["stage"] == "vector_build"}
    assert kinds == {300: "exact", 600: "hnsw"}
    assert all(r["vectors"] == "synthetic" for r in records if r["stage"].startswith("search"))

    saved = json.loads((tmp_path / "suite.json").read_text())
    assert len(saved["records"]) == len(records)
    table = (tmp_path / "suite.md").read_text()
    assert all(f"| {stage} |" in table for stage in STAGES)
    for plot in ("latency_vs_size.png", "build_vs_size.png", "training_vs_events.png"):
        assert (tmp_path / plot).read_bytes()[:4] == b"\x89PNG"


def _old_record(stage: str, size: int) -> dict:
    side = {"median": 1.0, "p99": 1.0, "unit": "s", "peak_rss_mb": 1.0, "extra_rss_mb": 0.0}
    return {"stage": stage, "size": size, "shoplm": side, "raw": side, "ratio": 1.0,
            "raw_library": "old run"}  # fmt: skip


def test_merge_keeps_other_rows_and_raw_build_max_skips_raw_faiss(tmp_path: Path) -> None:
    """How the README's table was made: runs merged, the largest raw faiss build skipped."""
    earlier = tmp_path / "earlier.json"
    old = [_old_record("train_als", 999), _old_record("vector_build", 300)]
    earlier.write_text(json.dumps({"records": old}))
    suite = _load_suite()
    report = suite.main(
        [
            "--quick",
            "--sizes", "300",
            "--events", "",
            "--queries", "4",
            "--users", "4",
            "--encode-n", "0",
            "--recommend-events", "2000",
            "--raw-build-max", "100",
            "--merge", str(earlier),
            "--out", str(tmp_path / "out"),
            "--no-plots",
        ]
    )  # fmt: skip
    rows = {(r["stage"], r["size"]): r for r in report["records"]}
    assert rows[("train_als", 999)]["raw_library"] == "old run"  # other sizes kept
    build = rows[("vector_build", 300)]  # the same stage and size: replaced by this run
    assert build["raw"] is None and build["ratio"] is None
    assert build["raw_library"].endswith("not run")
    assert rows[("search_dense", 300)]["raw"]["median"] > 0  # raw search on shoplm's index
    table = (tmp_path / "out" / "suite.md").read_text()
    assert "| train_als | 999 |" in table
    assert "| vector_build | 300 | " in table and "| not run | - |" in table
