"""What search learns from a shop's judgments or click logs, saved as one JSON file.

Two rankers and a table of query expansions:

- ``fusion``: the learned fusion of BM25 and the encoder (``hybrid-learned``), weights on
  :data:`~shoplm.search.features.FUSION_FEATURES`;
- ``rerank``: the re-ranker of the full pipeline (``hybrid-rerank``), weights on
  :data:`~shoplm.search.features.RERANK_FEATURES`;
- ``expansions``: query word -> catalog words of the items shoppers chose for it.

A shop with neither judgments nor clicks gets :func:`default_model`: weights fitted once on
public product-search judgments (see :data:`DEFAULT_WEIGHTS`), no expansions.
``Engine.fit_search`` replaces them with weights fitted on the shop's own data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shoplm.folders import write_text_whole
from shoplm.search.features import FUSION_FEATURES, RERANK_FEATURES
from shoplm.search.rerank import LinearRanker

FORMAT = 1
MODEL_FILE = "search_model.json"
RANKER_FEATURES = {"fusion": FUSION_FEATURES, "rerank": RERANK_FEATURES}

# Weights on raw feature values (see shoplm.search.features for each feature's scale).  The
# word and meaning weights are those fitted on the training half (seed 42) of the public
# homedepot_search queries, rounded; category and popularity, which that catalog lacks, are
# set by hand to a moderate boost.  Evaluations never use these: they fit their own.
DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "fusion": {"bm25": 5.7, "dense": 5.7, "bm25_rank": 7.1, "dense_rank": -2.8},
    "rerank": {
        "bm25": 2.0,
        "bm25_log": -0.65,
        "expansion": 0.8,
        "dense": 1.85,
        "dense_gap": 2.2,
        "bm25_rank": 14.0,
        "dense_rank": -1.1,
        "coverage": 3.2,
        "all_words": 0.25,
        "head_word": 0.0,
        "doc_length": 0.6,
        "dense_x_unknown": -0.4,
        "category": 1.0,
        "popularity": 0.5,
        "price": 0.0,
        "phrase": 0.05,
        "title_partial": 1.25,
        "title_token_set": 1.8,
    },
}


@dataclass
class SearchModel:
    """Rankers by name plus learned query expansions."""

    rankers: dict[str, LinearRanker]
    expansions: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def ranker(self, name: str) -> LinearRanker:
        """The named ranker, or the default one when this model lacks it or it is stale."""
        ranker = self.rankers.get(name)
        if ranker is None or not ranker.with_features(RANKER_FEATURES[name]):
            return default_model().rankers[name]
        return ranker

    def as_dict(self) -> dict:
        return {
            "format": FORMAT,
            "rankers": {name: r.as_dict() for name, r in self.rankers.items()},
            "expansions": {k: [list(p) for p in v] for k, v in self.expansions.items()},
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> SearchModel:
        if data.get("format") != FORMAT:
            raise ValueError(f"unsupported search model format {data.get('format')!r}")
        return cls(
            rankers={n: LinearRanker.from_dict(r) for n, r in data.get("rankers", {}).items()},
            expansions={
                str(k): [(str(w), float(x)) for w, x in v]
                for k, v in data.get("expansions", {}).items()
            },
            info=dict(data.get("info", {})),
        )

    def save(self, folder: Path) -> Path:
        """Write ``search_model.json`` atomically (temp file, then rename)."""
        text = json.dumps(self.as_dict(), ensure_ascii=False, indent=1)
        return write_text_whole(Path(folder) / MODEL_FILE, text)

    @classmethod
    def load(cls, folder: Path) -> SearchModel | None:
        """The saved model in ``folder``, or None when there is none."""
        path = Path(folder) / MODEL_FILE
        if not path.is_file():
            return None
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path} is not a valid search model: {error}") from None


def default_model() -> SearchModel:
    return SearchModel(
        rankers={
            name: LinearRanker.from_weights(
                {f: DEFAULT_WEIGHTS[name].get(f, 0.0) for f in features}, {"source": "default"}
            )
            for name, features in RANKER_FEATURES.items()
        },
        info={"source": "default"},
    )
