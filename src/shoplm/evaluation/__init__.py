"""Offline evaluation: splits, metrics and reports, beside the serving flow.

Only numpy and the standard library load here; the report's matplotlib and the ranking
helpers' scipy load when those modules are imported.
"""

from shoplm.evaluation.metrics import (
    dcg,
    graded_ndcg,
    item_coverage,
    ranking_metrics,
    search_metrics,
)
from shoplm.evaluation.report import format_table, write_report
from shoplm.evaluation.splits import LeaveOneOut, TemporalSplit, leave_one_out, temporal_split

__all__ = [
    "LeaveOneOut",
    "TemporalSplit",
    "dcg",
    "format_table",
    "graded_ndcg",
    "item_coverage",
    "leave_one_out",
    "ranking_metrics",
    "search_metrics",
    "temporal_split",
    "write_report",
]
