"""Engine: one object that owns a home folder and answers search, recommend and similar.

It wires the store, the text encoder, the indexes and the recommenders; the CLI, the HTTP
server and the evaluator are thin shells over it.  Nothing here is global: open two
engines on two homes and they share nothing.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shoplm.config import RECOMMENDER_PRESETS, Settings, resolve_home
from shoplm.fitted import CatalogArrays, FittedPlatform
from shoplm.graph.model import ItemGraph
from shoplm.index.lexical import LexicalIndex, lexical_fields
from shoplm.index.vector import VectorIndex
from shoplm.ingest import IngestReport, ingest_file, ingest_records
from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, UserBatch
from shoplm.recommend.blend import blend
from shoplm.recommend.training import fit_models
from shoplm.schema import DEFAULT_PLATFORM, EVENT_WEIGHTS, Event, Hit, Item
from shoplm.search.filters import SearchFilters
from shoplm.search.model import SearchModel
from shoplm.search.pipeline import DEFAULT_METHOD, QueryInsight, SearchCandidate, SearchPipeline
from shoplm.store import (
    AppendResult,
    EventColumns,
    UpsertResult,
    is_postgres_url,
    open_embedding_cache,
    open_store,
)
from shoplm.text.cache import EmbeddingCache
from shoplm.text.encoder import TextEncoder
from shoplm.text.tokenize import tokenize

if TYPE_CHECKING:
    from shoplm.heads.home import HomeHeads  # imports torch: loaded on first use

log = logging.getLogger("shoplm")

BLEND = "blend"
# Models that learn only from behaviour: skipped (with a note) when a platform has no events.
BEHAVIOUR_MODELS = {"itemknn", "als", "bpr", "sasrec", "sasrec-text", "hybrid", "hybrid-no-kg"}
HISTORY_LIMIT = 200
# Cosine from which a search hit's reason names the user's nearest item ("close to your X"):
# MiniLM puts product titles of one kind at about 0.55 and up, unrelated ones at 0.1-0.3.
HISTORY_REASON_MIN_SIMILARITY = 0.5


class NotFittedError(RuntimeError):
    """The platform has no fitted models yet."""


class UnknownPlatformError(ValueError):
    """A platform was named that the store does not hold, or none was named among several."""


def seed_everything(seed: int) -> None:
    """Same seed, same results: numpy, python and torch."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Engine:
    """A shoplm instance on one home folder."""

    def __init__(self, home: Path, settings: Settings, embedding_cache: Path | None = None):
        self.home = home
        self.settings = settings
        self.store = open_store(settings.store.url or "store.sqlite", base=home)
        # With the store in PostgreSQL, embeddings live there too (pgvector), shared by workers.
        pg_url = settings.store.url if is_postgres_url(settings.store.url) else None
        self._embedding_cache_path = embedding_cache or pg_url or home / "embeddings.sqlite"
        self._encoder: TextEncoder | None = None
        self._embedding_cache: EmbeddingCache | None = None
        self._fitted: dict[str, FittedPlatform] = {}
        self._search_pipelines: dict[str, SearchPipeline] = {}
        self._heads: HomeHeads | None = None

    @classmethod
    def open(
        cls, home: str | Path | None = None, embedding_cache: Path | None = None, **overrides: Any
    ) -> Engine:
        """Open (creating if needed) the engine home; settings come from its config.json."""
        path = resolve_home(home)
        path.mkdir(parents=True, exist_ok=True)
        settings = Settings.load(path, **overrides)
        if not (path / "config.json").exists():
            settings.save(path)
        return cls(path, settings, embedding_cache)

    def close(self) -> None:
        """Close the store, the encoder's workers and the embedding cache it opened."""
        self.store.close()
        close_encoder = getattr(self._encoder, "close", None)  # a substituted one may have none
        if callable(close_encoder):
            close_encoder()
        if self._embedding_cache is not None:
            self._embedding_cache.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def encoder(self) -> TextEncoder:
        """Loaded on first use: opening an engine to ingest must not pay for the model."""
        if self._encoder is None:
            self._embedding_cache = open_embedding_cache(self._embedding_cache_path)
            self._encoder = TextEncoder(
                self.settings.encoder,
                cache=self._embedding_cache,
                show_progress=self.settings.show_progress,
            )
        return self._encoder

    def base_encoder(self) -> TextEncoder:
        """The encoder of the base the home's model was fine-tuned from, sharing the vector
        cache; the home's own encoder when it was not tuned."""
        from shoplm.finetune.manifest import base_of

        base = base_of(self.settings.encoder.model)
        if base == self.settings.encoder.model:
            return self.encoder
        settings = self.settings.encoder.model_copy(update={"model": base})
        return TextEncoder(settings, cache=self.encoder.cache, show_progress=False)

    def _base_vectors(self, platform: str, texts: list[str]) -> Callable[[], np.ndarray] | None:
        """The base encoder's vectors of ``texts``, encoded (or read from the cache) on first
        call, for models that read them (``FitContext.base_vectors``); None when the home's
        encoder is its own base."""
        encoder = self.base_encoder()
        if encoder is self.encoder:
            return None

        @functools.cache
        def encode() -> np.ndarray:
            log.info("fit %s: the base encoder's vectors of %d items", platform, len(texts))
            try:
                return encoder.encode_cached(texts)
            finally:
                encoder.close()

        return encode

    @property
    def heads(self) -> HomeHeads:
        """The home's task heads (sentiment, categories, ...), each loaded on first use."""
        if self._heads is None:
            from shoplm.heads.home import HomeHeads

            self._heads = HomeHeads(self.home)
        return self._heads

    # -- platforms ---------------------------------------------------------------------
    def resolve_platform(self, platform: str | None) -> str:
        """A single-shop user never names a platform; with several, one must be named."""
        known = self.store.platforms()
        if platform is not None:
            if known and platform not in known:
                raise UnknownPlatformError(f"unknown platform {platform!r}; known: {known}")
            return platform
        if len(known) <= 1:
            return known[0] if known else DEFAULT_PLATFORM
        if DEFAULT_PLATFORM in known:
            return DEFAULT_PLATFORM
        raise UnknownPlatformError(f"this home holds several platforms {known}: name one")

    def _platform_dir(self, platform: str) -> Path:
        return self.home / "platforms" / platform

    # -- writing ---------------------------------------------------------------------------
    def ingest(
        self,
        path: str | Path,
        kind: str = "auto",
        mapping: Mapping[str, str] | None = None,
        platform: str | None = None,
        rejects_path: str | Path | None = None,
        batch_size: int = 5000,
    ) -> IngestReport:
        """Load a CSV/JSONL/Parquet file of items or events; bad rows go to the rejects file."""
        return ingest_file(
            self.store,
            Path(path),
            kind=kind,
            mapping=dict(mapping) if mapping else None,
            platform=platform,
            rejects_path=Path(rejects_path) if rejects_path else None,
            batch_size=batch_size,
            show_progress=self.settings.show_progress,
        )

    def upsert_items(self, items: Iterable[Item | Mapping[str, Any]]) -> UpsertResult:
        """Add or change items; validated first, so a bad item stores nothing."""
        valid = [i if isinstance(i, Item) else Item.model_validate(dict(i)) for i in items]
        return self.store.upsert_items(valid)

    def add_events(self, events: Iterable[Event | Mapping[str, Any]]) -> AppendResult:
        """Append behaviour events; validated first, so a bad event stores nothing."""
        valid = [e if isinstance(e, Event) else Event.model_validate(dict(e)) for e in events]
        return self.store.append_events(valid)

    def ingest_records(
        self, records: Iterable[Mapping[str, Any]], kind: str, platform: str | None = None
    ) -> IngestReport:
        """Like ``ingest`` for in-memory rows: bad rows are reported, good rows stored."""
        return ingest_records(
            self.store, records, kind=kind, platform=platform, show_progress=False
        )

    # -- fitting ---------------------------------------------------------------------------
    def fit(
        self,
        platform: str | None = None,
        models: Sequence[str] | None = None,
        tune: Sequence[str] | None = None,
    ) -> dict:
        """Encode the catalog, build indexes, train the recommenders, swap them in.

        Search is then learned from the platform's click log where that validates higher
        than the default weights (:mod:`shoplm.search.clicks`; the report's ``search``).
        ``tune`` names models whose hyperparameters are first chosen on the validation split
        (each user's newest item held out); None means ``settings.recommend.tune``.
        """
        platform = self.resolve_platform(platform)
        started = time.perf_counter()
        seed_everything(self.settings.seed)
        items = list(self.store.iter_items(platform))
        if not items:
            raise ValueError(f"platform {platform!r} has no items: ingest a catalog first")
        log.info("fit %s: encoding %d items", platform, len(items))
        texts = [item.text() for item in items]
        if self.settings.compute.backend == "ray":  # same vectors, encoded on a Ray cluster
            from shoplm.distributed.ray_encode import encode_cached_ray

            embeddings, encoded = encode_cached_ray(self.encoder, texts, self.settings.compute)
        else:
            embeddings = self.encoder.encode_cached(texts)
            encoded = getattr(self.encoder, "last_stats", None)
        vector_index = VectorIndex.build(
            embeddings,
            exact_below=self.settings.index.exact_below,
            hnsw_m=self.settings.index.hnsw_m,
            ef_search=self.settings.index.hnsw_ef_search,
        )
        lexical_index = LexicalIndex.build([lexical_fields(item) for item in items])
        columns = self.store.event_columns(platform)
        data = Interactions.from_events(columns, [item.item_id for item in items])
        context = FitContext(
            items=items,
            item_embeddings=embeddings,
            seed=self.settings.seed,
            show_progress=self.settings.show_progress,
            base_vectors=self._base_vectors(platform, texts),
        )
        context.options["graph"] = self._fit_graph(platform, items)
        if self.settings.compute.backend == "ray":  # SASRec epochs on Ray Train workers
            from shoplm.distributed.ray_train import SEQUENCE_TRAINER_OPTION, RaySequenceTrainer

            context.options[SEQUENCE_TRAINER_OPTION] = RaySequenceTrainer(self.settings.compute)
        settings = self.settings.recommend
        trained = fit_models(
            models or settings.models,
            data,
            context,
            params=settings.params,
            tune_models=settings.tune if tune is None else tune,
            grids=settings.grids,
            needs_users=BEHAVIOUR_MODELS,
        )
        fitted_models, skipped = trained.models, trained.skipped
        fitted = FittedPlatform(
            platform=platform,
            catalog=CatalogArrays.from_items(items),
            user_ids=data.user_ids,
            encoder_id=self.encoder.model_id,
            embeddings=embeddings,
            vector_index=vector_index,
            lexical_index=lexical_index,
            models=fitted_models,
            graph=context.options["graph"],
        )
        # Search learns before the fit is saved, so a worker that reloads the new fit also
        # reads the search model that goes with it.
        search = self._learn_search_from_clicks(fitted, columns)
        fitted.save(self._platform_dir(platform))
        fitted.interactions = data  # type: ignore[attr-defined]  # reused by rank_users
        self._fitted[platform] = fitted
        return {
            "platform": platform,
            "items": len(items),
            "users": data.n_users,
            "interactions": int(data.matrix.nnz),
            "models": sorted(fitted_models),
            "skipped_models": skipped,
            "encoded": encoded,
            **trained.report(),
            "search": search,
            "seconds": round(time.perf_counter() - started, 2),
        }

    def _learn_search_from_clicks(self, fitted: FittedPlatform, columns: EventColumns) -> dict:
        """Refit search on the platform's click log where it validates higher (see module)."""
        from shoplm.search.clicks import (
            forget_click_model,
            learn_search_from_clicks,
            popularity_outside_search,
        )

        settings = self.settings.search
        folder = self._platform_dir(fitted.platform)
        if not settings.learn_from_clicks:
            forget_click_model(folder)  # the defaults apply, not what an earlier fit learned
            return {"learned": False, "reason": "off in the settings (search.learn_from_clicks)"}
        return learn_search_from_clicks(
            columns.search_clicks(), fitted, self.encoder, folder, seed=self.settings.seed,
            progress=lambda message: log.info("fit %s: %s", fitted.platform, message),
            popularity=popularity_outside_search(columns, fitted.catalog.item_ids),
            max_queries=settings.max_click_queries,
        )  # fmt: skip

    def fitted(self, platform: str | None = None) -> FittedPlatform:
        platform = self.resolve_platform(platform)
        if platform not in self._fitted:
            loaded = FittedPlatform.load(self._platform_dir(platform))
            if loaded is None:
                raise NotFittedError(
                    f"platform {platform!r} is not fitted yet: run `shoplm fit` (Engine.fit())"
                )
            self._fitted[platform] = loaded
        return self._fitted[platform]

    def attach_fitted_slots(self, slots: dict[str, FittedPlatform]) -> None:
        """Install every fit (``fit`` or a load) through ``slots`` from now on.

        The real-time layer passes a map that lays the items stored after a fit over it
        at the moment it is installed (``shoplm.realtime.slots``).
        """
        for platform, fitted in list(self._fitted.items()):
            slots[platform] = fitted
        self._fitted = slots

    # -- reading ---------------------------------------------------------------------------
    def _history_rows(self, fitted: FittedPlatform, user_id: str) -> np.ndarray:
        """The user's positive-feedback items, oldest first, read fresh from the store."""
        events = self.store.user_events(fitted.platform, user_id, limit=HISTORY_LIMIT)
        rows = [
            fitted.item_index[e.item_id]
            for e in events
            if e.item_id in fitted.item_index and EVENT_WEIGHTS.get(e.type, 0) > 0
        ]
        return np.asarray(rows, dtype=np.int64)

    def search(
        self,
        query: str,
        user_id: str | None = None,
        k: int = 10,
        filters: SearchFilters | Mapping[str, Any] | None = None,
        platform: str | None = None,
        method: str = DEFAULT_METHOD,
    ) -> list[Hit]:
        """Items matching the query, best first, re-ordered by the user's taste if known.

        ``method``: ``hybrid-rerank`` (the full pipeline, default), ``hybrid-learned``,
        ``hybrid``, ``bm25`` or ``dense`` (see :mod:`shoplm.search.pipeline`).
        """
        fitted = self.fitted(platform)
        if filters is not None and not isinstance(filters, SearchFilters):
            filters = SearchFilters.model_validate(dict(filters))
        history = self._history_rows(fitted, user_id) if user_id else None
        pipeline = self.search_pipeline(fitted)
        candidates = pipeline.search(
            query, k=k, method=method, filters=filters, history_rows=history
        )
        items = self.store.get_items(
            fitted.platform, [fitted.catalog.item_ids[c.row] for c in candidates]
        )
        history_items = self._items_at(fitted, [c.nearest_history_row for c in candidates])
        insight = pipeline.insight(query) if method == "hybrid-rerank" and candidates else None
        query_tokens = set(tokenize(query))
        if insight is not None:
            query_tokens |= set(insight.analyzed.search_tokens)
        hits = []
        for candidate in candidates:
            item = items.get(fitted.catalog.item_ids[candidate.row])
            if item is None:  # deleted since the last fit
                continue
            reason = _search_reason(
                query_tokens, item, candidate.sources,
                _history_phrase(candidate, item, history_items), insight,
            )  # fmt: skip
            hits.append(
                Hit(
                    item_id=item.item_id,
                    platform=item.platform,
                    score=candidate.score,
                    reason=reason,
                    item=item,
                    sources=candidate.sources,
                )
            )
        return hits

    def search_pipeline(self, fitted: FittedPlatform) -> SearchPipeline:
        """The platform's search pipeline, built once per fit (and per search model)."""
        pipeline = self._search_pipelines.get(fitted.platform)
        if pipeline is None or pipeline.fitted is not fitted:
            model = SearchModel.load(self._platform_dir(fitted.platform))
            pipeline = SearchPipeline(fitted, self.encoder, model)
            self._search_pipelines[fitted.platform] = pipeline
        return pipeline

    def fit_search(
        self,
        examples: Iterable[tuple[str, Mapping[str, float]]],
        platform: str | None = None,
        source: str = "judgments",
        progress: Any = None,
    ) -> dict:
        """Learn the search model from (query, {item_id: gain}) examples and save it.

        Gains are >= 0: graded judgments minus their floor, or click-log weights (see
        ``shoplm.search.learn.click_examples``).  Items not in the fit are ignored.
        The model lives beside the platform's fits, so a later ``fit`` keeps it.
        """
        from shoplm.search.learn import fit_search_model

        fitted = self.fitted(platform)
        rows = [
            (query, {fitted.item_index[i]: g for i, g in gains.items() if i in fitted.item_index})
            for query, gains in examples
        ]
        pipeline = self.search_pipeline(fitted)
        model = fit_search_model(
            pipeline, rows, seed=self.settings.seed, source=source, progress=progress
        )
        path = model.save(self._platform_dir(fitted.platform))
        self._search_pipelines.pop(fitted.platform, None)
        return {
            "platform": fitted.platform,
            "examples": model.info.get("n_examples", 0),
            "expansions": len(model.expansions),
            "weights": {name: r.raw_weights() for name, r in model.rankers.items()},
            "path": str(path),
        }

    def query_insight(self, query: str, platform: str | None = None) -> QueryInsight:
        """How search reads a query: corrections, expansions and likely categories."""
        return self.search_pipeline(self.fitted(platform)).insight(query)

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        platform: str | None = None,
        model: str = BLEND,
        exclude_seen: bool | None = None,
    ) -> list[Hit]:
        """Items for this user: the blended models, or one named model.

        A shopper with no history yet gets the popular items whichever model was asked for
        (where popularity is fitted): the personal models score every item 0 for them, which
        would list the catalog in stored order.
        """
        fitted = self.fitted(platform)
        self._check_model(fitted, model)
        history = self._history_rows(fitted, user_id)
        batch = UserBatch(np.array([fitted.user_index.get(user_id, -1)]), [history])
        cold = len(history) == 0 and "popularity" in fitted.models
        scores, parts = self._score(fitted, batch, "popularity" if cold else model)
        scores = scores[0].astype(np.float64)
        if self.settings.recommend.exclude_seen if exclude_seen is None else exclude_seen:
            scores[history] = -np.inf
        top = top_rows(scores, k)
        hits = self._hits(fitted, top, scores, {n: p[0] for n, p in parts.items()}, history)
        if cold and model not in (BLEND, "popularity"):
            for hit in hits:
                hit.reason = f"{hit.reason} (no history yet for {model})"
        return hits

    @staticmethod
    def _check_model(fitted: FittedPlatform, model: str) -> None:
        """An unknown model is an error, even for a shopper whose list would not use it."""
        if model != BLEND and model not in fitted.models:
            raise ValueError(f"model {model!r} is not fitted; fitted: {sorted(fitted.models)}")

    def similar(
        self, item_id: str, k: int = 10, platform: str | None = None, model: str = "content"
    ) -> list[Hit]:
        """Items like this one ("more like this"), from one model's item-item view."""
        fitted = self.fitted(platform)
        if item_id not in fitted.item_index:
            raise KeyError(f"item {item_id!r} is not in the fitted catalog of {fitted.platform!r}")
        if model not in fitted.models:
            raise ValueError(f"model {model!r} is not fitted; fitted: {sorted(fitted.models)}")
        row = fitted.item_index[item_id]
        scores = fitted.models[model].similar_items(row).astype(np.float64)
        scores[row] = -np.inf
        top = top_rows(scores, k)
        source = fitted.catalog.item_ids[row]
        hits = self._hits(fitted, top, scores, {model: scores}, np.array([row]))
        for hit in hits:
            hit.reason = f"similar to {source} ({model})"
        return hits

    def rank_users(
        self,
        user_ids: Sequence[str],
        model: str = BLEND,
        k: int = 20,
        platform: str | None = None,
        batch_size: int = 512,
    ) -> np.ndarray:
        """Top-k item rows per known user, training items excluded: the evaluator's view.

        Scores every item for every user (full ranking, no sampled negatives).
        """
        from shoplm.evaluation.ranking import top_k_from_scores

        fitted = self.fitted(platform)
        self._check_model(fitted, model)
        data = getattr(fitted, "interactions", None)
        if data is None:
            data = Interactions.from_events(
                self.store.event_columns(fitted.platform), fitted.catalog.item_ids
            )
            fitted.interactions = data  # type: ignore[attr-defined]
        rows = np.array([data.user_index[u] for u in user_ids], dtype=np.int64)
        ranked = np.empty((len(rows), min(k, fitted.n_items)), dtype=np.int64)
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            batch = UserBatch.for_training_users(data, chunk)
            scores, _ = self._score(fitted, batch, model)
            ranked[start : start + len(chunk)] = top_k_from_scores(
                scores, k, exclude=data.matrix[chunk]
            )
        return ranked

    def _score(
        self, fitted: FittedPlatform, batch: UserBatch, model: str
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if model == BLEND:
            weights = self.settings.recommend.blend
            if not any(weight and name in fitted.models for name, weight in weights.items()):
                # e.g. the best preset's hybrid on a fit made before there were events: the
                # default blend over what this fit has, rather than no answer until the next
                weights = RECOMMENDER_PRESETS["fast"]["blend"]
            return blend(fitted.models, weights, batch)
        scores = fitted.models[model].score(batch)
        return scores, {model: scores}

    def _items_at(self, fitted: FittedPlatform, rows: Iterable[int | None]) -> dict[int, Item]:
        """The stored items of these catalog rows (rows deleted since the fit left out)."""
        wanted = {r for r in rows if r is not None}
        ids = [fitted.catalog.item_ids[r] for r in wanted]
        items = self.store.get_items(fitted.platform, ids)
        return {
            r: items[fitted.catalog.item_ids[r]]
            for r in wanted
            if fitted.catalog.item_ids[r] in items
        }

    def _hits(
        self,
        fitted: FittedPlatform,
        top: np.ndarray,
        scores: np.ndarray,
        parts: Mapping[str, np.ndarray],
        history: np.ndarray,
    ) -> list[Hit]:
        """Rows -> Hits with a reason naming the model and, if any, the nearest history item."""
        nearest: dict[int, int] = {}
        if len(history):
            recent = history[-20:]
            similarity = fitted.embeddings[top] @ fitted.embeddings[recent].T
            nearest = {
                int(r): int(recent[j]) for r, j in zip(top, similarity.argmax(axis=1), strict=True)
            }
        item_ids = fitted.catalog.item_ids
        # One read for the hits and the history items their reasons name.
        items = self.store.get_items(
            fitted.platform, [item_ids[r] for r in [*top.tolist(), *nearest.values()]]
        )
        titles = {r: items[item_ids[r]].title for r in nearest.values() if item_ids[r] in items}
        hits = []
        for row in top.tolist():
            item = items.get(fitted.catalog.item_ids[row])
            if item is None:
                continue
            contributions = {name: float(part[row]) for name, part in parts.items()}
            lead = max(contributions, key=contributions.get) if contributions else "model"
            if lead == "popularity" or row not in nearest:
                reason = "popular with shoppers" if lead == "popularity" else f"{lead} model"
            else:
                reason = f"because you showed interest in {titles.get(nearest[row], '?')} ({lead})"
            hits.append(
                Hit(
                    item_id=item.item_id,
                    platform=item.platform,
                    score=float(scores[row]),
                    reason=reason,
                    item=item,
                    sources=contributions,
                )
            )
        return hits

    # -- knowledge graph ---------------------------------------------------------------------
    def _knowledge_dir(self, platform: str) -> Path:
        return self._platform_dir(platform) / "knowledge"

    def _fit_graph(self, platform: str, items: list[Item]) -> ItemGraph:
        """The platform's item graph from its catalog, its events and its stored knowledge."""
        from shoplm.graph.build import build_graph
        from shoplm.graph.knowledge import load_knowledge

        triples, links = load_knowledge(self._knowledge_dir(platform))
        log.info("fit %s: building the item graph", platform)
        return build_graph(items, self.store.event_columns(platform), triples, links)

    def add_knowledge(
        self,
        triples: Iterable[tuple[str, str, str]],
        item_entity: Mapping[str, str] | None = None,
        platform: str | None = None,
    ) -> dict:
        """Store external (head, relation, tail) triples and item -> entity links.

        The next ``fit`` puts them into the platform's item graph.
        """
        from shoplm.graph.knowledge import save_knowledge

        platform = self.resolve_platform(platform)
        return save_knowledge(self._knowledge_dir(platform), triples, item_entity)

    def graph(self, platform: str | None = None) -> ItemGraph:
        """The item graph of the current fit (built from the store if that fit has none)."""
        fitted = self.fitted(platform)
        if fitted.graph is None:
            items = list(self.store.iter_items(fitted.platform))
            fitted.graph = self._fit_graph(fitted.platform, items)
        return fitted.graph

    def profile(self, user_id: str, platform: str | None = None) -> dict:
        """Top categories and brands, price band, interest shift and shared traits of a user."""
        from shoplm.graph.profile import build_profile

        platform = self.resolve_platform(platform)
        events = self.store.user_events(platform, user_id, limit=HISTORY_LIMIT)
        items = self.store.get_items(platform, {e.item_id for e in events if e.item_id})
        try:
            graph, prices = self.graph(platform), self.fitted(platform).catalog.prices
        except NotFittedError:
            graph, prices = None, None
        return {"platform": platform, **build_profile(user_id, events, items, prices, graph)}

    def explain(self, user_id: str, item_id: str, platform: str | None = None) -> dict:
        """Why ``item_id`` suits the user: a path in the item graph from one of their items.

        ``path`` lists the nodes (ids, types, labels) and ``edges`` the typed edges, so the
        explanation can be checked; ``faithful`` says the check against the graph passed.
        """
        from shoplm.graph.explain import Explainer, is_faithful

        fitted = self.fitted(platform)
        graph = self.graph(fitted.platform)
        if graph.item_node(item_id) is None:
            raise KeyError(f"item {item_id!r} is not in the item graph of {fitted.platform!r}")
        history = [fitted.catalog.item_ids[r] for r in self._history_rows(fitted, user_id)]
        explainer = graph.cached("explainer", lambda: Explainer(graph))
        found = explainer.explain(history, item_id)
        out: dict[str, Any] = {"user_id": user_id, "item_id": item_id, "platform": fitted.platform}
        if found is None:
            reason = "no history yet" if not history else "no link to the user's items found"
            return {
                **out,
                "kind": "none",
                "text": reason,
                "history_item_id": None,
                "path": [],
                "edges": [],
                "faithful": False,
            }
        faithful = is_faithful(graph, history, item_id, found.nodes, found.edge_types)
        return {**out, **found.to_dict(graph), "faithful": faithful}

    def stats(self) -> dict:
        """What the home holds: per platform items, events and whether it is fitted."""
        out = {}
        for platform in self.store.platforms():
            fitted = FittedPlatform.load(self._platform_dir(platform)) is not None
            out[platform] = {
                "items": self.store.count_items(platform),
                "events": self.store.count_events(platform),
                "fitted": fitted,
            }
        return out


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best finite scores, best first (ties: lower row first)."""
    finite = np.isfinite(scores)
    k = min(k, int(finite.sum()))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    candidates = np.argpartition(-np.where(finite, scores, -np.inf), k - 1)[:k]
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order]


def _history_phrase(
    candidate: SearchCandidate, item: Item, history: Mapping[int, Item]
) -> str | None:
    """Name the user's item nearest to a hit, when it is near enough to explain it.

    Personalisation re-orders every hit by its nearest history item, however far that is; a
    phone case is not "close to your running jacket", so the reason names the item only
    from :data:`HISTORY_REASON_MIN_SIMILARITY` up, says what the two share when that is the
    brand and not the kind of product (a phone near a laptop of the same make), and says so
    plainly when the hit is itself one of the user's items.
    """
    row = candidate.nearest_history_row
    if row is None:
        return None
    if row == candidate.row:
        return "you showed interest in it before"
    near = history.get(row)
    if near is None or candidate.sources.get("history", 0.0) < HISTORY_REASON_MIN_SIMILARITY:
        return None
    if item.brand and near.brand == item.brand and near.category != item.category:
        return f"{item.brand}, like your {near.title}"
    return f"close to your {near.title}"


def _search_reason(
    query_tokens: set[str],
    item: Item,
    sources: Mapping[str, float],
    history_phrase: str | None,
    insight: QueryInsight | None = None,
) -> str:
    """Say which query words matched and where, or that the match is by meaning."""
    item_tokens = set(tokenize(f"{item.title} {item.brand} {item.category}"))
    matched = sorted(query_tokens & item_tokens)
    parts = []
    if matched:
        parts.append("matched " + ", ".join(f"'{t}'" for t in matched[:5]))
    if insight is not None:
        fixes = [
            f"'{typed}' as '{fixed}'"
            for typed, fixed in insight.analyzed.corrections.items()
            if set(fixed.split()) & item_tokens
        ]
        if fixes:
            parts.append("read " + ", ".join(fixes))
    if "dense" in sources:
        parts.append(f"meaning similarity {sources['dense']:.2f}")
    likely = {label for label, p in insight.categories if p >= 0.2} if insight else set()
    if item.category and item.category in likely:
        parts.append(f"in {item.category}, the query's likely category")
    elif item.category:
        parts.append(f"in {item.category}")
    if history_phrase:
        parts.append(history_phrase)
    return "; ".join(parts) or "retrieved"
