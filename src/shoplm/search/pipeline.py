"""Query -> ranked item rows: understand, retrieve, fuse or re-rank, filter, personalise.

The pipeline only knows item rows; the engine turns rows into Hits with item fields and
reasons.  ``method`` picks how far the pipeline goes, which is how the evaluation compares
the stages in one run:

==================  =====================================================================
method              what it does
==================  =====================================================================
``bm25``            BM25 over the item fields, the query as typed
``dense``           cosine similarity of encoder vectors (faiss)
``hybrid``          reciprocal-rank fusion of the two lists
``hybrid-learned``  both lists' union, ordered by a learned weighting of both scores
``hybrid-rerank``   query understanding (spelling, compounds, learned expansions,
                    item-graph expansions, category prediction), both retrievers on the
                    rewritten query, then the feature re-ranker over the union
                    (:mod:`shoplm.search.features`)
``hybrid-rerank-    the same with the item-graph expansion switched off: the ablation
no-kg``             that shows what the knowledge graph adds to search
==================  =====================================================================

Item-graph expansion: the brands and categories next to the items a query names (and to
items bought with them) give extra words at a lower weight
(:func:`shoplm.graph.expand.expansion_terms`); a catalog without brands, categories or
behaviour has a graph without edges, and then nothing is added.

Filters restrict every retriever (inside the indexes), so a filtered search still returns
``k`` hits when ``k`` items qualify.  Personalisation only re-orders what the query found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from shoplm.fitted import FittedPlatform
from shoplm.graph.expand import expansion_terms
from shoplm.graph.model import ItemGraph
from shoplm.index.lexical import LexicalIndex
from shoplm.search.category import CategoryPredictor
from shoplm.search.features import (
    FUSION_FEATURES,
    RERANK_FEATURES,
    CandidateContext,
    candidate_features,
)
from shoplm.search.filters import SearchFilters
from shoplm.search.fusion import reciprocal_rank_fusion
from shoplm.search.model import SearchModel, default_model
from shoplm.search.query import MAX_RELATED, AnalyzedQuery, QueryAnalyzer, RelatedTerms
from shoplm.search.rerank import QueryList
from shoplm.text.encoder import TextEncoder
from shoplm.text.tokenize import tokenize

BASE_METHODS = ("bm25", "dense", "hybrid")
NO_KG_METHOD = "hybrid-rerank-no-kg"
RERANK_METHODS = ("hybrid-rerank", NO_KG_METHOD)
LEARNED_METHODS = ("hybrid-learned", *RERANK_METHODS)
SEARCH_METHODS = BASE_METHODS + LEARNED_METHODS
DEFAULT_METHOD = "hybrid-rerank"
PERSONAL_WEIGHT = 0.5
RERANK_DEPTH = 100  # candidates per retriever that the learned methods score
EXPANSION_RETRIEVAL_WEIGHT = 0.5  # an expansion word counts half a typed word in retrieval


@dataclass
class SearchCandidate:
    """One retrieved item row with its fused score and each source's contribution."""

    row: int
    score: float
    sources: dict[str, float] = field(default_factory=dict)
    nearest_history_row: int | None = None


@dataclass
class QueryInsight:
    """What the pipeline made of a query: shown to shoppers as "did you mean" and reasons."""

    analyzed: AnalyzedQuery
    categories: list[tuple[str, float]] = field(default_factory=list)


class SearchPipeline:
    """Built once per fitted platform (the engine caches it); ``search`` is read-only.

    ``kg_expansion`` switches the item-graph query expansion on (the default) or off.
    """

    def __init__(
        self,
        fitted: FittedPlatform,
        encoder: TextEncoder,
        model: SearchModel | None = None,
        depth: int = 200,
        rerank_depth: int = RERANK_DEPTH,
        kg_expansion: bool = True,
    ) -> None:
        self.fitted = fitted
        self.encoder = encoder
        self.depth = depth
        self.rerank_depth = rerank_depth
        self.model = model or default_model()
        lexical = fitted.lexical_index
        graph = getattr(fitted, "graph", None)
        self.graph_terms = graph_terms(graph) if kg_expansion else None
        self.analyzer = QueryAnalyzer(
            lexical.vocabulary(), self.model.expansions, related=self.graph_terms
        )
        self._plain_analyzer: QueryAnalyzer | None = None
        # A live (real-time) index wraps the fitted one; features read the fitted rows.
        self._base_lexical, self._lexical_valid = _fitted_view(lexical, fitted.n_items)
        self._categories: CategoryPredictor | None = None
        self._category_ids: np.ndarray | None = None
        self._categories_built = False
        self.context = CandidateContext(
            lexical=self._base_lexical,
            popularity=_popularity(fitted),
            log_prices=_log_prices(fitted.catalog.prices),
        )

    # -- public ------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 10,
        method: str = DEFAULT_METHOD,
        filters: SearchFilters | None = None,
        history_rows: np.ndarray | None = None,
    ) -> list[SearchCandidate]:
        if method not in SEARCH_METHODS:
            raise ValueError(f"unknown search method {method!r}; choose from {SEARCH_METHODS}")
        query = query.strip()
        if not query or k <= 0:
            return []
        allowed = self._allowed(filters)
        if allowed is not None and not allowed.any():
            return []
        if method in LEARNED_METHODS:
            candidates = self._learned(query, k, method, allowed)
        else:
            candidates = self._base(query, k, method, allowed)
        if history_rows is not None and len(history_rows) and candidates:
            candidates = self._personalise(candidates, history_rows)
        return candidates[:k]

    def insight(self, query: str) -> QueryInsight:
        """The rewritten query and its likely categories (for reasons and "did you mean")."""
        analyzed = self.analyzer.analyze(query)
        predictor = self.categories()
        categories = []
        if predictor is not None and analyzed.tokens:
            categories = predictor.predict(self._query_vector(analyzed), top=3)
        return QueryInsight(analyzed, categories)

    def analyzer_for(self, method: str) -> QueryAnalyzer:
        """The query analyzer of a method: without the item-graph terms for the ablation."""
        if method != NO_KG_METHOD or self.graph_terms is None:
            return self.analyzer
        if self._plain_analyzer is None:
            self._plain_analyzer = QueryAnalyzer(self.analyzer.vocabulary, self.model.expansions)
        return self._plain_analyzer

    def categories(self) -> CategoryPredictor | None:
        """Query -> category predictor over the catalog's categories (None without any)."""
        if not self._categories_built:
            self._categories, self._category_ids = CategoryPredictor.from_catalog(
                list(self.fitted.catalog.categories), self.fitted.embeddings, self.encoder
            )
            self.context.category_ids = self._category_ids if self._categories else None
            self._categories_built = True
        return self._categories

    def training_list(
        self,
        query: str,
        gains: dict[int, float],
        method: str,
        query_vector: np.ndarray | None = None,
        analyzer: QueryAnalyzer | None = None,
    ) -> QueryList:
        """The candidates ``method`` would score for ``query``, as features and gains.

        Judged rows the retrievers miss are not added: the ranker learns to order what
        retrieval brings, as it will at search time.
        """
        rows, features, _ = self._candidates(
            query, method, None, query_vector=query_vector, analyzer=analyzer
        )
        target = np.array([gains.get(int(r), 0.0) for r in rows], dtype=np.float32)
        return QueryList(features, target)

    # -- stages --------------------------------------------------------------------------
    def _base(
        self, query: str, k: int, method: str, allowed: np.ndarray | None
    ) -> list[SearchCandidate]:
        depth = max(self.depth, k)
        lists: dict[str, np.ndarray] = {}
        raw: dict[str, dict[int, float]] = {}
        if method in ("bm25", "hybrid"):
            rows, scores = self.fitted.lexical_index.search(query, depth, allowed=allowed)
            lists["bm25"] = rows
            raw["bm25"] = dict(zip(rows.tolist(), scores.tolist(), strict=True))
        if method in ("dense", "hybrid"):
            rows, scores = self._dense(self.encoder.encode_query(query), depth, allowed)
            lists["dense"] = rows
            raw["dense"] = dict(zip(rows.tolist(), scores.tolist(), strict=True))
        if method == "hybrid":
            fused = reciprocal_rank_fusion(lists)
            candidates = [
                SearchCandidate(row, entry["fused"], {s: raw[s][row] for s in raw if row in raw[s]})
                for row, entry in fused.items()
            ]
        else:
            (source,) = lists
            candidates = [
                SearchCandidate(row, raw[source][row], {source: raw[source][row]})
                for row in lists[source].tolist()
            ]
        candidates.sort(key=lambda c: (-c.score, c.row))
        return candidates

    def _learned(
        self, query: str, k: int, method: str, allowed: np.ndarray | None
    ) -> list[SearchCandidate]:
        rows, features, dense = self._candidates(query, method, allowed, depth=k)
        if not len(rows):
            return []
        names = FUSION_FEATURES if method == "hybrid-learned" else RERANK_FEATURES
        ranker = self.model.ranker("fusion" if method == "hybrid-learned" else "rerank")
        scores = ranker.score(features)
        bm25 = features[:, names.index("bm25")]  # relative to the list's best match
        category = (
            features[:, names.index("category")]
            if "category" in names and self.context.category_ids is not None
            else None
        )
        order = np.lexsort((rows, -scores))
        candidates = []
        for i in order.tolist():
            sources = {"dense": float(dense[i]), method: float(scores[i])}
            if bm25[i] > 0:
                sources["bm25"] = float(bm25[i])
            if category is not None:
                sources["category"] = float(category[i])
            candidates.append(SearchCandidate(int(rows[i]), float(scores[i]), sources))
        return candidates

    def _candidates(
        self,
        query: str,
        method: str,
        allowed: np.ndarray | None,
        depth: int = 0,
        query_vector: np.ndarray | None = None,
        analyzer: QueryAnalyzer | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate rows, their features and cosines, for a learned method."""
        depth = max(self.rerank_depth, depth)
        if method == "hybrid-learned":
            tokens = tuple(tokenize(query))
            analyzed = AnalyzedQuery(query, tokens, tokens)
            names = FUSION_FEATURES
            lexical_rows, _ = self.fitted.lexical_index.search(query, depth, allowed=allowed)
        else:
            analyzed = (analyzer or self.analyzer_for(method)).analyze(query)
            names = RERANK_FEATURES
            lexical_rows = self._lexical_rewritten(analyzed, depth, allowed)
        vector = self._query_vector(analyzed) if query_vector is None else query_vector
        dense_rows, _ = self._dense(vector, depth, allowed)
        rows = np.array(
            list(dict.fromkeys(lexical_rows.tolist() + dense_rows.tolist())), dtype=np.int64
        )
        if not len(rows):
            return rows, np.zeros((0, len(names)), np.float32), np.zeros(0, np.float32)
        dense = self.fitted.embeddings[rows] @ vector
        probs = None
        if names is RERANK_FEATURES and self.categories() is not None:
            probs = self._categories.probabilities(vector)  # type: ignore[union-attr]
        features = self._features(analyzed, rows, dense, probs, names)
        return rows, features, dense

    def _features(
        self,
        analyzed: AnalyzedQuery,
        rows: np.ndarray,
        dense: np.ndarray,
        probs: np.ndarray | None,
        names: tuple[str, ...],
    ) -> np.ndarray:
        if self._lexical_valid is None:
            return candidate_features(analyzed, rows, dense, self.context, probs, names)
        # Rows the fitted index does not describe (new or changed since the fit) get the
        # lexical features of an item without matching words; meaning still counts.
        valid = self._lexical_valid[rows]
        out = np.zeros((len(rows), len(names)), dtype=np.float32)
        if valid.any():
            out[valid] = candidate_features(
                analyzed, rows[valid], dense[valid], self.context, probs, names
            )
        if (~valid).any():
            out[~valid, names.index("dense")] = dense[~valid]
        return out

    def _lexical_rewritten(
        self, analyzed: AnalyzedQuery, depth: int, allowed: np.ndarray | None
    ) -> np.ndarray:
        lexical = self.fitted.lexical_index
        if not isinstance(lexical, LexicalIndex):  # a live index: plain text search
            text = " ".join(analyzed.search_tokens) or analyzed.text
            return lexical.search(text, depth, allowed=allowed)[0]
        weights = dict.fromkeys(analyzed.search_tokens, 1.0)
        for word, weight in analyzed.expansions.items():
            weights.setdefault(word, EXPANSION_RETRIEVAL_WEIGHT * weight)
        return lexical.search_tokens(weights, depth, allowed=allowed)[0]

    def _query_vector(self, analyzed: AnalyzedQuery) -> np.ndarray:
        return self.encoder.encode_query(dense_query_text(analyzed))

    def _dense(
        self, vector: np.ndarray, depth: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        scores, rows = self.fitted.vector_index.search(vector[None, :], depth, allowed=allowed)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]

    def _allowed(self, filters: SearchFilters | None) -> np.ndarray | None:
        if filters is None or filters.is_empty():
            return None
        return filters.mask(self.fitted.catalog)

    def _personalise(
        self, candidates: list[SearchCandidate], history_rows: np.ndarray
    ) -> list[SearchCandidate]:
        """Fuse the query ranking with a ranking by similarity to the user's history.

        Only re-orders the retrieved candidates, so a user's taste can never pull in items
        that do not match the query; a user without history is never touched.
        """
        embeddings = self.fitted.embeddings
        rows = np.array([c.row for c in candidates], dtype=np.int64)
        similarity = embeddings[rows] @ embeddings[history_rows].T  # [n_candidates, n_history]
        affinity = similarity.max(axis=1)
        nearest = history_rows[similarity.argmax(axis=1)]
        fused = reciprocal_rank_fusion(
            {"query": rows, "history": rows[np.argsort(-affinity, kind="stable")]},
            weights={"query": 1.0, "history": PERSONAL_WEIGHT},
        )
        for position, candidate in enumerate(candidates):
            candidate.sources["history"] = float(affinity[position])
            candidate.nearest_history_row = int(nearest[position])
            candidate.score = fused[candidate.row]["fused"]
        candidates.sort(key=lambda c: (-c.score, c.row))
        return candidates


def graph_terms(graph: ItemGraph | None) -> RelatedTerms | None:
    """Query tokens -> expansion terms from the item graph; None when it has no edges."""
    if graph is None or graph.n_edges == 0:
        return None

    @lru_cache(maxsize=20_000)
    def related(tokens: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
        return tuple(expansion_terms(graph, tokens, k=2 * MAX_RELATED))

    return related


def dense_query_text(analyzed: AnalyzedQuery) -> str:
    """What the encoder reads: the corrected query when words were corrected, else as typed."""
    return analyzed.rewritten if analyzed.corrections else analyzed.text


def _fitted_view(lexical: object, n_items: int) -> tuple[LexicalIndex, np.ndarray | None]:
    """The plain fitted index behind ``lexical`` and which rows it still describes.

    None as the mask means every row (the usual case: no real-time overlay).
    """
    if isinstance(lexical, LexicalIndex):
        return lexical, None
    base = getattr(lexical, "base", None)
    if not isinstance(base, LexicalIndex):
        raise TypeError(f"unsupported lexical index {type(lexical).__name__}")
    valid = np.zeros(n_items, dtype=bool)
    valid[: base.size] = True
    valid[np.asarray(getattr(lexical, "masked_rows", []), dtype=np.int64)] = False
    return base, valid


def _popularity(fitted: FittedPlatform) -> np.ndarray | None:
    scores = getattr(fitted.models.get("popularity"), "item_scores", None)
    if scores is None or len(scores) != fitted.n_items:
        return None
    return popularity_feature(scores)


def popularity_feature(scores: np.ndarray) -> np.ndarray | None:
    """The popularity model's item scores scaled to 0..1; None when every score is 0."""
    if not np.any(scores > 0):
        return None
    return (np.asarray(scores, dtype=np.float32) / float(np.max(scores))).astype(np.float32)


def _log_prices(prices: np.ndarray) -> np.ndarray | None:
    prices = np.asarray(prices, dtype=np.float64)
    if not np.isfinite(prices).any():
        return None
    with np.errstate(invalid="ignore"):
        return np.log1p(prices).astype(np.float32)
