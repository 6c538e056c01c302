"""Public datasets as shoplm sees them, and the bundled sample shop.

``load_dataset(folder)`` tells the source from its files and returns a ``RecDataset``,
``SearchDataset``, ``QueryClassDataset`` or ``TextLabelDataset``; ``sample_paths()`` gives
the synthetic sample's items.csv and events.csv.
"""

from typing import Any

from shoplm.datasets._io import DatasetFormatError
from shoplm.datasets.registry import DATASET_NAMES, detect_dataset, list_subsets, load_dataset
from shoplm.datasets.types import (
    SYNTHETIC_TIME_BASE,
    Dataset,
    KnowledgeGraph,
    QueryClassDataset,
    RecDataset,
    SearchDataset,
    SearchQuery,
    TextLabelDataset,
    sentiment_label,
)

# The sample module loads on first use, so `python -m shoplm.datasets.sample` runs cleanly.
_SAMPLE_NAMES = ("generate_sample", "sample_paths", "write_sample")


def __getattr__(name: str) -> Any:
    if name in _SAMPLE_NAMES:
        from shoplm.datasets import sample

        return getattr(sample, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DATASET_NAMES",
    "SYNTHETIC_TIME_BASE",
    "Dataset",
    "DatasetFormatError",
    "KnowledgeGraph",
    "QueryClassDataset",
    "RecDataset",
    "SearchDataset",
    "SearchQuery",
    "TextLabelDataset",
    "detect_dataset",
    "generate_sample",
    "list_subsets",
    "load_dataset",
    "sample_paths",
    "sentiment_label",
    "write_sample",
]
