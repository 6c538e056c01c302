"""Plain-text table and the self-contained HTML report."""

import base64
import json
import re

import numpy as np
import pytest

from shoplm.evaluation.report import format_table, slice_table, write_report

METRICS = {
    "popularity": {"HR@10": 0.5, "NDCG@10": 0.25, "n_users": 3},
    "itemknn": {"HR@10": np.float64(0.123456), "NDCG@10": 0.3},
}


def test_format_table_aligns_and_rounds():
    assert format_table(METRICS) == (
        "model        HR@10  NDCG@10  n_users\n"
        "popularity  0.5000   0.2500        3\n"
        "itemknn     0.1235   0.3000        -"
    )


def test_format_table_chosen_columns():
    table = format_table(METRICS, columns=["NDCG@10"])
    assert table.splitlines() == [
        "model       NDCG@10",
        "popularity   0.2500",
        "itemknn      0.3000",
    ]


def _result(**extra):
    return {
        "task": "recommend",
        "dataset": "tiny-shop",
        "protocol": "leave-one-out, full ranking",
        "n_users": 3,
        "seconds": 1.5,
        "metrics": {
            "popularity": {"HR@10": 0.5, "NDCG@10": 0.25, "MRR@10": 0.2},
            "itemknn": {"HR@10": 0.75, "NDCG@10": np.float32(0.125), "MRR@10": 0.3},
        },
        **extra,
    }


def test_write_report_html_and_json(tmp_path):
    latency = {"popularity": {"median": 1.0, "p99": 4.0}, "itemknn": {"median": 2.0, "p99": 3.0}}
    path = write_report(_result(latency_ms=latency), tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html"
    page = path.read_text(encoding="utf-8")

    assert "tiny-shop" in page
    assert "leave-one-out, full ranking" in page
    assert "popularity" in page and "itemknn" in page
    # one chart per NDCG@K / HR@K metric, none for MRR
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2
    assert all(base64.b64decode(img).startswith(b"\x89PNG") for img in images)
    # best per column: itemknn HR@10 and MRR@10, popularity NDCG@10; latency: lowest wins
    best = re.findall(r'<td class="best"><strong>([^<]+)</strong></td>', page)
    assert best == ["0.2500", "0.7500", "0.3000", "1.0000", "3.0000"]  # row by row
    # self-contained: nothing fetched from elsewhere
    assert "http" not in page
    assert "<script" not in page and "<link" not in page

    saved = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert saved["metrics"]["itemknn"]["NDCG@10"] == pytest.approx(0.125)
    assert saved["latency_ms"] == latency
    assert saved["n_users"] == 3


def test_write_report_escapes_and_writes_nan_as_null(tmp_path):
    result = _result()
    result["metrics"] = {"<b>odd</b>": {"NDCG@5": float("nan")}}
    path = write_report(result, tmp_path / "r.html")
    page = path.read_text(encoding="utf-8")
    assert "&lt;b&gt;odd&lt;/b&gt;" in page and "<b>odd</b>" not in page
    assert "data:image/png" not in page  # nothing finite to plot
    saved = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert saved["metrics"]["<b>odd</b>"]["NDCG@5"] is None


def test_write_report_rejects_bad_input(tmp_path):
    result = _result()
    del result["protocol"]
    with pytest.raises(ValueError, match="protocol"):
        write_report(result, tmp_path / "r.html")
    with pytest.raises(ValueError, match="HTML file"):
        write_report(_result(), tmp_path / "r.json")
    with pytest.raises(ValueError, match="metrics"):
        write_report(_result(metrics={"m": 0.5}), tmp_path / "r.html")
    with pytest.raises(TypeError, match=r"result\.extra"):
        write_report(_result(extra=object()), tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def _sliced() -> dict:
    return _result(
        cold_items={
            "max_training_users": 5,
            "n_users": 2,
            "metrics": {"popularity": {"NDCG@10": 0.0}, "itemknn": {"NDCG@10": 0.5}},
        },
        seen_transitions={"n_users": 0, "metrics": {}},  # an empty slice gets no column
    )


def test_slice_table_puts_each_slice_beside_all_users():
    assert slice_table(_sliced()) == {
        "popularity": {"all (3)": 0.25, "cold items (2)": 0.0},
        "itemknn": {"all (3)": pytest.approx(0.125), "cold items (2)": 0.5},
    }
    assert slice_table(_result()) == {}  # a result without slices (search) has no table


def test_write_report_shows_the_slices(tmp_path):
    page = write_report(_sliced(), tmp_path / "report.html").read_text(encoding="utf-8")
    assert "NDCG@10 on slices of the test users" in page and "cold items (2)" in page
    plain = write_report(_result(), tmp_path / "plain.html").read_text(encoding="utf-8")
    assert "on slices of the test users" not in plain
