"""Evaluation results as a terminal table and a self-contained HTML report.

The HTML file embeds its charts as base64 PNGs and carries no external assets, so it can
be mailed, attached to a CI run or opened offline; the sibling JSON keeps the exact
numbers for scripts.  matplotlib is imported only when a report is written, so importing
this module stays cheap.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REQUIRED_KEYS = ("task", "dataset", "protocol", "metrics")
_CHART_METRIC = re.compile(r"^(NDCG|HR)@\d+$")
SLICE_KEYS = ("cold_items", "seen_transitions")  # recommendation results: per-slice metrics


def _as_python(value: Any) -> Any:
    """Unwrap numpy scalars (duck-typed, so this module never imports numpy)."""
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def _is_number(value: Any) -> bool:
    value = _as_python(value)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _format_value(value: Any) -> str:
    value = _as_python(value)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _columns(metrics: Mapping[str, Mapping[str, Any]], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    seen: dict[str, None] = {}
    for row in metrics.values():
        for name in row:
            seen.setdefault(name, None)
    return list(seen)


def format_table(
    metrics: Mapping[str, Mapping[str, float]], columns: Sequence[str] | None = None
) -> str:
    """Plain-text table, one row per model and one column per metric (first-seen order).

    Floats print with 4 decimals, counts as integers, a metric a model lacks as ``-``.
    The model column is left-aligned, numbers right-aligned, so columns line up in a
    terminal and in a log file.
    """
    cols = _columns(metrics, columns)
    header = ["model", *cols]
    rows = [[str(model), *(_format_value(m.get(c)) for c in cols)] for model, m in metrics.items()]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


def slice_table(result: Mapping[str, Any], metric: str = "NDCG@10") -> dict[str, dict[str, float]]:
    """{model: {column: value}}: ``metric`` on all test users and on each slice a
    recommendation result holds (``cold_items``, ``seen_transitions``); {} when it holds none.

    One overall figure hides where a model wins: a content model on the cold items only its
    text can find, a sequential one on the steps it has seen in training.
    """
    parts = {
        f"{name.replace('_', ' ')} ({part['n_users']})": part["metrics"]
        for name in SLICE_KEYS
        if (part := result.get(name)) and part.get("n_users")
    }
    if not parts:
        return {}
    everyone = f"all ({result.get('n_users', '-')})"
    table: dict[str, dict[str, float]] = {}
    for model, row in result["metrics"].items():
        if metric not in row:
            continue
        table[model] = {everyone: row[metric]}
        for column, metrics in parts.items():
            if metric in metrics.get(model, {}):
                table[model][column] = metrics[model][metric]
    return table


def _best(values: list[Any], lower_is_better: bool) -> set[int]:
    """Indexes of the best finite numeric values (all of them on a tie)."""
    nums = {
        i: float(_as_python(v))
        for i, v in enumerate(values)
        if _is_number(v) and math.isfinite(float(_as_python(v)))
    }
    if len(nums) < 2:
        return set()
    target = min(nums.values()) if lower_is_better else max(nums.values())
    return {i for i, v in nums.items() if v == target}


def _html_table(metrics: Mapping[str, Mapping[str, Any]], lower_is_better: bool = False) -> str:
    cols = _columns(metrics, None)
    models = list(metrics)
    best = {
        c: _best([metrics[m].get(c) for m in models], lower_is_better)
        for c in cols
        if not c.startswith("n_")  # counts are facts, not scores
    }
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for i, model in enumerate(models):
        cells = []
        for c in cols:
            text = html.escape(_format_value(metrics[model].get(c)))
            if i in best.get(c, set()):
                cells.append(f'<td class="best"><strong>{text}</strong></td>')
            else:
                cells.append(f"<td>{text}</td>")
        body.append(f"<tr><th>{html.escape(str(model))}</th>{''.join(cells)}</tr>")
    return (
        f"<table><thead><tr><th>model</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _bar_chart_png(metric: str, metrics: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Base64 PNG of one metric across models, or None when no model has a number for it."""
    from matplotlib.figure import Figure  # Agg-backed, never touches pyplot's global state

    pairs = [
        (str(model), float(_as_python(row[metric])))
        for model, row in metrics.items()
        if _is_number(row.get(metric)) and math.isfinite(float(_as_python(row[metric])))
    ]
    if not pairs:
        return None
    names, values = zip(*pairs, strict=True)
    fig = Figure(figsize=(max(4.0, 0.9 * len(names) + 2.0), 3.2), dpi=100)
    ax = fig.add_subplot()
    bars = ax.bar(range(len(names)), values, color="#4c72b0")
    ax.bar_label(bars, labels=[f"{v:.4f}" for v in values], fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    ax.set_title(metric)
    ax.set_ylim(0, max(values) * 1.15 if max(values) > 0 else 1.0)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _jsonable(value: Any, where: str = "result") -> Any:
    """Plain JSON types only: numpy scalars unwrapped, NaN/inf written as null."""
    value = _as_python(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        return sorted(_jsonable(v, where) for v in value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{where} holds a {type(value).__name__}, which JSON cannot store")


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:70rem}
table{border-collapse:collapse;margin:1rem 0}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
thead th{background:#f3f3f3}
tbody th{text-align:left;font-weight:normal}
td.best{background:#e3f2e1}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dt{font-weight:bold}dd{margin:0}
.charts img{margin:.5rem 1rem .5rem 0}
"""


def write_report(result: Mapping[str, Any], path: Path) -> Path:
    """Write ``result`` as an HTML report at ``path`` and as JSON beside it; returns ``path``.

    ``result`` is the evaluation object: ``task``, ``dataset``, ``protocol``, ``metrics``
    ({model: {metric: value}}), usually ``n_users`` or ``n_queries`` and ``seconds``, and
    optionally ``latency_ms`` ({model: {"median": .., "p99": ..}}).  The best value of each
    metric column is highlighted (lowest for latency) and every NDCG@K / HR@K metric gets
    a bar chart.  A recommendation result's slices (:func:`slice_table`) get a table of
    their own.  Other keys are listed as details.
    """
    missing = [k for k in REQUIRED_KEYS if k not in result]
    if missing:
        raise ValueError(f"evaluation result lacks required key(s): {', '.join(missing)}")
    metrics = result["metrics"]
    if not isinstance(metrics, Mapping) or not all(
        isinstance(row, Mapping) for row in metrics.values()
    ):
        raise ValueError("result['metrics'] must map each model to {metric: value}")
    path = Path(path)
    if path.suffix.lower() == ".json":
        raise ValueError(f"{path}: the report path is the HTML file; its JSON goes beside it")
    json_path = path.with_suffix(".json")
    payload = json.dumps(_jsonable(result), indent=2, allow_nan=False)

    esc = html.escape
    title = f"shoplm evaluation: {result['task']} on {result['dataset']}"
    details = {k: v for k, v in result.items() if k not in {*REQUIRED_KEYS, "latency_ms"}}
    detail_rows = "".join(
        f"<dt>{esc(str(k))}</dt><dd>{esc(_detail(v))}</dd>" for k, v in details.items()
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p><b>Protocol:</b> {esc(str(result['protocol']))}</p>",
        f"<dl>{detail_rows}</dl>" if detail_rows else "",
        "<h2>Metrics</h2>",
        _html_table(metrics) if metrics else "<p>No models were evaluated.</p>",
    ]
    slices = slice_table(result)
    if slices:
        parts += ["<h2>NDCG@10 on slices of the test users</h2>", _html_table(slices)]
    latency = result.get("latency_ms")
    if isinstance(latency, Mapping) and latency:
        parts += ["<h2>Latency (ms)</h2>", _html_table(latency, lower_is_better=True)]
    charts = []
    for metric in _columns(metrics, None):
        if _CHART_METRIC.match(metric):
            png = _bar_chart_png(metric, metrics)
            if png is not None:
                charts.append(
                    f'<img src="data:image/png;base64,{png}" alt="{esc(metric)} per model">'
                )
    if charts:
        parts += ["<h2>Charts</h2>", f'<div class="charts">{"".join(charts)}</div>']
    parts.append("</body></html>")

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(p for p in parts if p), encoding="utf-8")
    json_path.write_text(payload + "\n", encoding="utf-8")
    return path


def _detail(value: Any) -> str:
    value = _as_python(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.1f}"
    if isinstance(value, str | int | bool) or value is None:
        return str(value)
    return json.dumps(_jsonable(value))
