"""Hybrid: candidates from several models, re-ranked by a learned ranker.

No single model wins everywhere: the sequential model knows what comes *next*, ALS and
item-kNN know what goes *together*, the content model knows what is *alike* (and is the
only one that knows a brand-new item).  The hybrid asks each source for its top items, pools
them, and scores every pooled candidate with a small neural ranker on features that say why
the candidate might fit: each source's score and rank, the item's popularity and whether it
is cold, whether it shares brand or category with what the user took (and how recently),
and how close its text is to the user's newest item.

The knowledge-graph source ``kg`` (personalised PageRank over the item graph: brands,
categories, attributes, external triples, baskets) joins by default whenever the
platform's graph is at hand (the engine passes it in ``FitContext.options["graph"]``);
``hybrid-no-kg`` is the same hybrid without it, the ablation that shows what it adds.

A source named without parameters (``{}``) takes the platform's own fitted model of that
name when the fit already made one (tuned on validation, or configured), so the hybrid and
its ablation rank with the very models the platform serves.

The ranker learns on a validation-style split of the training data only: each user's newest
item is held out, the sources are fitted without it (sequential models never train on it in
the first place, so they are reused), and the ranker learns to put the held-out item first
among the pooled candidates (listwise softmax loss).  Serving uses sources fitted on all the
training data.  Candidates always outrank non-candidates; among non-candidates the order is
the sources' mean standardised score, so the output is a full ranking.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from shoplm.interactions import Interactions
from shoplm.recommend.base import (
    MANIFEST,
    FitContext,
    Recommender,
    UserBatch,
    checked_text_vectors,
)
from shoplm.recommend.blend import standardise
from shoplm.recommend.features import TokenVocab
from shoplm.recommend.sequential import torch_threads
from shoplm.recommend.validation import HeldOut, hold_out_last

log = logging.getLogger("shoplm")

KG_SOURCE = "kg"
GRAPH_OPTION = "graph"  # FitContext.options key of the platform's item graph
DEFAULT_SOURCES: dict[str, dict[str, Any]] = {
    "sasrec-text": {},
    "als": {},
    "itemknn": {},
    "content": {},
    "popularity": {},
    KG_SOURCE: {},
}
# Models fitted on the validation split, shared by the hybrids of one fit (same data).
_INNER_OPTION = "hybrid_inner_models"
# How many newest history items the match and recency features look at.
_WINDOW = 20
SOURCES_DIR = "sources"


class _Ranker(nn.Module):
    """Two-layer MLP from candidate features to one score."""

    def __init__(self, n_features: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden // 2),
            nn.GELU(),
            nn.Linear(hidden // 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class Hybrid(Recommender):
    """Learned re-ranking of the pooled top candidates of several source models.

    Parameters: ``sources`` (model name -> constructor parameters), ``per_source``
    (candidates taken from each), ``hidden`` (ranker width), ``epochs``/``lr`` of the
    ranker, ``max_train_users`` (seeded sample of held-out users it learns from),
    ``threads`` (torch CPU threads), ``text_vectors`` (the item vectors of the text-closeness
    feature: ``"base"``, the default, reads those of the base model a tuned home encoder was
    tuned from, as sasrec-text does; ``"home"`` the tuned ones.  Its content source keeps the
    tuned vectors either way.  On amazon_office, with the tuned encoder, the base's vectors
    gave the hybrid 0.9% and 2.6% more NDCG@10 on two seeds than the tuned ones).
    """

    name = "hybrid"
    # What it recommends is its candidates; an item stored after the fit is none of them.
    new_item_score: ClassVar[Literal["mean", "lowest"]] = "lowest"

    def __init__(
        self,
        sources: Mapping[str, Mapping[str, Any]] | None = None,
        per_source: int = 50,
        hidden: int = 64,
        epochs: int = 30,
        lr: float = 3e-3,
        max_train_users: int = 10000,
        threads: int = 1,
        source_threads: int = 2,
        text_vectors: str = "base",
    ) -> None:
        chosen = self.default_sources() if sources is None else sources
        sources = {k: dict(v) for k, v in chosen.items()}
        if not sources:
            raise ValueError("the hybrid needs at least one source model")
        if any(name.startswith("hybrid") for name in sources):
            raise ValueError("a hybrid cannot be its own source, nor another hybrid's")
        if min(per_source, epochs, max_train_users, source_threads) < 1 or hidden < 2:
            raise ValueError(
                "per_source, hidden, epochs, max_train_users and source_threads must be positive"
            )
        super().__init__(
            sources=sources,
            per_source=per_source,
            hidden=hidden,
            epochs=epochs,
            lr=lr,
            max_train_users=max_train_users,
            threads=threads,
            source_threads=source_threads,
            text_vectors=checked_text_vectors(text_vectors),
        )
        self.models: dict[str, Recommender] = {}
        self._source_cost: dict[str, float] = {}  # seconds per score() call, smoothed
        self.ranker = _Ranker(1, hidden)
        self.feature_mean = np.zeros(0, dtype=np.float32)
        self.feature_std = np.ones(0, dtype=np.float32)
        self.counts = np.zeros(0, dtype=np.float32)
        self.brand = np.zeros(0, dtype=np.int64)
        self.leaf = np.zeros(0, dtype=np.int64)
        self.tokens = sp.csr_matrix((0, 0), dtype=np.float32)
        self.text = np.zeros((0, 0), dtype=np.float32)
        # False when no held-out item was among the candidates (a young shop): candidates are
        # then ordered by the sources' mean standardised score, not by a random ranker.
        self.ranker_trained = True
        self.report: dict[str, Any] = {}

    @classmethod
    def default_sources(cls) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in DEFAULT_SOURCES.items()}

    # -- fitting -------------------------------------------------------------------------
    def fit(self, data: Interactions, context: FitContext) -> None:
        from shoplm.recommend.registry import create

        started = time.perf_counter()
        p = self.params
        self.n_items = data.n_items
        self._item_info(data, context)
        reusable = context.options.get("fitted_models", {})
        shared = context.options.get(_INNER_OPTION)
        if shared is None or shared["data"] is not data:
            shared = {"data": data, "held": hold_out_last(data), "models": {}}
            context.options[_INNER_OPTION] = shared
        held: HeldOut = shared["held"]
        full: dict[str, Recommender] = {}
        inner: dict[str, Recommender] = {}
        for name, params in p["sources"].items():
            if name == KG_SOURCE and context.options.get(GRAPH_OPTION) is None:
                log.info("hybrid: skipping source kg (the platform has no item graph)")
                continue
            model = create(name, **params)
            given = reusable.get(name)
            usable = given is not None and given.n_items == data.n_items
            if usable and (given.params == model.params or not params):
                model = given  # the platform's own fit (with its tuned parameters)
                p["sources"][name] = dict(given.params)
            else:
                try:
                    model.fit(data, context)
                except ValueError as error:  # e.g. no text vectors for a text model
                    log.info("hybrid: skipping source %s (%s)", name, error)
                    continue
            full[name] = model
            if getattr(model, "holds_out_last_item", False):
                inner[name] = model  # never trained on the held-out items: reuse as is
                continue
            key = f"{name} {json.dumps(model.params, sort_keys=True, default=str)}"
            if key not in shared["models"]:
                shared["models"][key] = create(name, **model.params)
                shared["models"][key].fit(held.inner, context)
            inner[name] = shared["models"][key]
        if not full:
            raise ValueError("the hybrid could fit none of its sources")
        self.models = full
        torch.manual_seed(context.seed)
        rng = np.random.default_rng(context.seed)
        with torch_threads(p["threads"]):
            self._fit_ranker(inner, held, rng)
        if self.text.shape[1]:  # whose item vectors the closeness feature read
            self.report["text_vectors"] = context.text_source(p["text_vectors"])
        self.report["seconds"] = round(time.perf_counter() - started, 2)
        log.info("hybrid: fitted in %.0f s (%s)", self.report["seconds"], self.report)

    def _item_info(self, data: Interactions, context: FitContext) -> None:
        """Per-item arrays the features read: popularity, brand, leaf category, tokens, text."""
        self.counts = data.item_popularity().astype(np.float32)
        n = data.n_items
        self.brand = np.full(n, -1, dtype=np.int64)
        self.leaf = np.full(n, -1, dtype=np.int64)
        self.tokens = sp.csr_matrix((n, 0), dtype=np.float32)
        if context.items is not None and len(context.items) == n:
            brands: dict[str, int] = {}
            leaves: dict[str, int] = {}
            for row, item in enumerate(context.items):
                if item.brand.strip():
                    self.brand[row] = brands.setdefault(item.brand.strip().lower(), len(brands))
                if item.category.strip():
                    leaf = item.category.strip().lower()
                    self.leaf[row] = leaves.setdefault(leaf, len(leaves))
            tokens = TokenVocab.build(context.items).matrix(context.items)
            norms = np.sqrt(np.asarray(tokens.multiply(tokens).sum(axis=1)).ravel())
            self.tokens = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ tokens)
        self.text = np.zeros((n, 0), dtype=np.float32)
        vectors = context.text_vectors(self.params["text_vectors"])
        if vectors is not None and len(vectors) == n:
            text = np.asarray(vectors, dtype=np.float32)
            self.text = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)

    def _fit_ranker(
        self, inner: Mapping[str, Recommender], held: HeldOut, rng: np.random.Generator
    ) -> None:
        p = self.params
        order = rng.permutation(len(held.user_rows))[: p["max_train_users"]]
        feats, masks, labels = [], [], []
        recalled = 0
        for start in range(0, len(order), 512):
            chunk = np.sort(order[start : start + 512])
            batch = held.batch(chunk)
            candidates, valid, x, _ = self._candidate_features(inner, batch)
            targets = held.targets[chunk]
            hit = (candidates == targets[:, None]) & valid
            found = hit.any(axis=1)
            recalled += int(found.sum())
            for b in np.flatnonzero(found):
                feats.append(x[b])
                masks.append(valid[b])
                labels.append(int(np.argmax(hit[b])))
        self.report = {
            "train_users": len(order),
            "candidate_recall": round(recalled / max(len(order), 1), 4),
        }
        n_features = self._n_features()
        self.ranker = _Ranker(n_features, p["hidden"])
        self.ranker_trained = bool(labels)
        if not labels:
            log.info("hybrid: no held-out item among the candidates; ranker left untrained")
            self.report["ranker"] = "untrained: candidates in the sources' mean order"
            self.feature_mean = np.zeros(n_features, dtype=np.float32)
            self.feature_std = np.ones(n_features, dtype=np.float32)
            return
        width = max(len(m) for m in masks)
        x = np.zeros((len(feats), width, n_features), dtype=np.float32)
        mask = np.zeros((len(feats), width), dtype=bool)
        for i, (f, m) in enumerate(zip(feats, masks, strict=True)):
            x[i, : len(f)] = f
            mask[i, : len(m)] = m
        real = x[mask]
        self.feature_mean = real.mean(axis=0).astype(np.float32)
        # A feature constant in training (every inner history the same length) keeps its
        # scale: dividing by a tiny spread would blow up any serving-time difference.
        std = real.std(axis=0)
        self.feature_std = np.where(std > 1e-3, std, 1.0).astype(np.float32)
        x = (x - self.feature_mean) / self.feature_std
        x[~mask] = 0.0
        self._train(torch.from_numpy(x), torch.from_numpy(mask), torch.tensor(labels), rng)

    def _train(
        self, x: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator
    ) -> None:
        """Listwise softmax over each user's candidates; early stop on 10% held-out users."""
        p = self.params
        n = len(labels)
        perm = torch.from_numpy(rng.permutation(n))
        n_valid = max(1, n // 10) if n >= 20 else 0
        valid, train = perm[:n_valid], perm[n_valid:]
        optimiser = torch.optim.AdamW(self.ranker.parameters(), lr=p["lr"], weight_decay=1e-4)

        def loss_of(rows: torch.Tensor) -> torch.Tensor:
            logits = self.ranker(x[rows]).masked_fill(~mask[rows], -torch.inf)
            return nn.functional.cross_entropy(logits, labels[rows])

        best, best_state, stale = float("inf"), None, 0
        for epoch in range(p["epochs"]):
            self.ranker.train()
            shuffled = train[torch.from_numpy(rng.permutation(len(train)))]
            for start in range(0, len(shuffled), 256):
                loss = loss_of(shuffled[start : start + 256])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
            if not n_valid:
                continue
            self.ranker.eval()
            with torch.no_grad():
                score = float(loss_of(valid))
            if score < best - 1e-4:
                best, stale = score, 0
                best_state = {k: v.clone() for k, v in self.ranker.state_dict().items()}
            else:
                stale += 1
                if stale >= 3:
                    break
            self.report["ranker_epochs"] = epoch + 1
        if best_state is not None:
            self.ranker.load_state_dict(best_state)
            self.report["ranker_valid_loss"] = round(best, 4)
        self.ranker.eval()

    # -- features ------------------------------------------------------------------------
    def _n_features(self) -> int:
        return 2 * len(self.params["sources"]) + 12

    def _candidate_features(
        self, models: Mapping[str, Recommender], batch: UserBatch
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Candidate rows [B, M], valid mask [B, M], features [B, M, F] for a batch, and
        the sources' mean standardised score of every item [B, n_items] (the fallback order).
        """
        n_users, n_items = len(batch), self.n_items
        histories = [np.asarray(h, dtype=np.int64) for h in batch.histories]
        histories = [h[h < n_items] for h in histories]
        seen_rows = np.concatenate([np.full(len(h), b) for b, h in enumerate(histories)] or [[]])
        seen_cols = np.concatenate(histories or [[]]).astype(np.int64)
        per = min(self.params["per_source"], n_items)
        z_scores, tops = {}, {}
        fallback = np.zeros((n_users, n_items), dtype=np.float32)
        for name, raw in self._source_scores(models, batch).items():
            raw = np.asarray(raw, dtype=np.float32)
            z = standardise(raw)
            fallback += z / len(models)
            z[seen_rows.astype(np.int64), seen_cols] = -np.inf
            z_scores[name] = z
            part = np.argpartition(-z, per - 1, axis=1)[:, :per]
            part_scores = np.take_along_axis(z, part, axis=1)
            tops[name] = np.take_along_axis(part, np.argsort(-part_scores, axis=1), axis=1)
        pooled = np.concatenate(list(tops.values()), axis=1)
        candidates, valid = _unique_rows(pooled)
        for z in z_scores.values():  # a seen item can only be a candidate if all are seen
            valid &= np.isfinite(np.take_along_axis(z, candidates, axis=1))
        features = []
        for name in self.params["sources"]:
            if name not in z_scores:
                features += [np.zeros(candidates.shape, np.float32)] * 2
                continue
            z = np.take_along_axis(z_scores[name], candidates, axis=1)
            features.append(np.where(np.isfinite(z), z, 0.0).astype(np.float32))
            rank = np.full((n_users, n_items), per, dtype=np.int32)
            np.put_along_axis(rank, tops[name], np.arange(per, dtype=np.int32)[None, :], axis=1)
            features.append(1.0 / (1.0 + np.take_along_axis(rank, candidates, axis=1)))
        features += self._item_user_features(candidates, histories)
        x = np.stack(features, axis=-1).astype(np.float32)
        x[~valid] = 0.0
        return candidates, valid, x, fallback

    def _source_scores(
        self, models: Mapping[str, Recommender], batch: UserBatch
    ) -> dict[str, np.ndarray]:
        """Each present source's scores for the batch, in source order.

        With ``source_threads`` > 1 the sources run on a shared thread pool, the slowest
        (by their smoothed past cost) submitted first so the pool's threads finish together.
        """
        names = [name for name in self.params["sources"] if name in models]
        workers = self.params["source_threads"]
        if workers <= 1 or len(names) < 2:
            return {name: models[name].score(batch) for name in names}
        pool = _source_pool(workers)
        by_cost = sorted(names, key=lambda name: -self._source_cost.get(name, 0.0))
        futures = {
            name: pool.submit(self._timed_score, name, models[name], batch) for name in by_cost
        }
        return {name: futures[name].result() for name in names}

    def _timed_score(self, name: str, model: Recommender, batch: UserBatch) -> np.ndarray:
        began = time.perf_counter()
        scores = model.score(batch)
        cost = (time.perf_counter() - began) / max(len(batch), 1)
        self._source_cost[name] = 0.8 * self._source_cost.get(name, cost) + 0.2 * cost
        return scores

    def _item_user_features(
        self, candidates: np.ndarray, histories: list[np.ndarray]
    ) -> list[np.ndarray]:
        """Popularity, cold flag, brand/category/token/text match with the recent history."""
        n_users, width = candidates.shape
        counts = self.counts[candidates]
        window = np.full((n_users, _WINDOW), -1, dtype=np.int64)
        for b, h in enumerate(histories):
            recent = h[-_WINDOW:][::-1]  # newest first
            window[b, : len(recent)] = recent
        real = window >= 0
        last = window[:, 0]
        steps = np.arange(_WINDOW, dtype=np.float32)

        def match(attribute: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            cand = attribute[candidates][:, :, None]
            hist = np.where(real, attribute[np.maximum(window, 0)], -1)[:, None, :]
            same = (cand == hist) & (cand >= 0) & real[:, None, :]
            share = same.sum(axis=2) / np.maximum(real.sum(axis=1), 1)[:, None]
            nearest = np.where(same, steps[None, None, :], np.inf).min(axis=2)
            return same[:, :, 0].astype(np.float32), share, 1.0 / (1.0 + nearest)

        brand_last, brand_share, brand_recency = match(self.brand)
        leaf_last, leaf_share, leaf_recency = match(self.leaf)
        token_cos = np.zeros((n_users, width), dtype=np.float32)
        if self.tokens.shape[1]:
            weights = np.where(real, np.power(0.5, steps / 5.0)[None, :], 0.0)
            profile = (
                sp.csr_matrix(
                    (weights[real], (np.nonzero(real)[0], window[real])),
                    shape=(n_users, self.n_items),
                )
                @ self.tokens
            )
            profile = np.asarray(profile.toarray(), dtype=np.float32)
            profile /= np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)
            # Only the candidates' rows: a request reads a few hundred items, not the catalog.
            rows = self.tokens[candidates.ravel()].tocoo()
            owner = rows.row // width  # the user each candidate row belongs to
            products = rows.data * profile[owner, rows.col]
            token_cos = np.bincount(rows.row, weights=products, minlength=n_users * width)
            token_cos = token_cos.reshape(n_users, width).astype(np.float32)
        text_last = np.zeros((n_users, width), dtype=np.float32)
        if self.text.shape[1]:
            known = last >= 0
            sims = np.einsum("bmd,bd->bm", self.text[candidates], self.text[np.maximum(last, 0)])
            text_last = np.where(known[:, None], sims, 0.0).astype(np.float32)
        length = np.broadcast_to(
            np.log1p(np.array([len(h) for h in histories], dtype=np.float32))[:, None],
            (n_users, width),
        )
        return [
            np.log1p(counts),
            (counts <= 5).astype(np.float32),
            brand_last,
            brand_share,
            brand_recency,
            leaf_last,
            leaf_share,
            leaf_recency,
            token_cos,
            text_last,
            length,
            (last >= 0).astype(np.float32)[:, None] * np.ones((1, width), np.float32),
        ]

    # -- serving -------------------------------------------------------------------------
    def score(self, batch: UserBatch) -> np.ndarray:
        if not len(batch):
            return np.zeros((0, self.n_items), dtype=np.float32)
        candidates, valid, x, fallback = self._candidate_features(self.models, batch)
        if self.ranker_trained:
            x = (x - self.feature_mean) / self.feature_std
            with torch_threads(self.params["threads"]), torch.no_grad():
                ranked = self.ranker(torch.from_numpy(x.astype(np.float32))).numpy()
        else:
            ranked = np.take_along_axis(fallback, candidates, axis=1)
        ranked = np.clip(ranked, -1.0e3, 1.0e3)
        # The rest sit in the band (lowest candidate - 2, lowest - 1), in the sources' order:
        # below every candidate, yet close enough that a blend's z-score keeps the
        # candidates' own order (a far floor would squeeze them together).
        lowest = np.where(valid, ranked, np.inf).min(axis=1)
        lowest = np.where(np.isfinite(lowest), lowest, 0.0)
        out = (lowest - 2.0)[:, None] + 0.5 + np.arctan(fallback) / np.pi
        rows = np.nonzero(valid)
        out[rows[0], candidates[rows]] = ranked[rows]
        return out.astype(np.float32)

    # -- persistence ---------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "feature_mean": self.feature_mean,
            "feature_std": self.feature_std,
            "counts": self.counts,
            "brand": self.brand,
            "leaf": self.leaf,
            "tokens_data": self.tokens.data.astype(np.float32),
            "tokens_indices": self.tokens.indices.astype(np.int64),
            "tokens_indptr": self.tokens.indptr.astype(np.int64),
            "tokens_shape": np.array(self.tokens.shape, dtype=np.int64),
            "text": self.text,
            "ranker_trained": np.array([int(self.ranker_trained)], dtype=np.int64),
        }
        for key, value in self.ranker.state_dict().items():
            out[f"ranker.{key}"] = value.detach().cpu().numpy()
        return out

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.feature_mean = arrays["feature_mean"]
        self.feature_std = arrays["feature_std"]
        self.counts = arrays["counts"]
        self.brand = arrays["brand"]
        self.leaf = arrays["leaf"]
        self.tokens = sp.csr_matrix(
            (arrays["tokens_data"], arrays["tokens_indices"], arrays["tokens_indptr"]),
            shape=tuple(int(v) for v in arrays["tokens_shape"]),
        )
        self.text = np.ascontiguousarray(arrays["text"], dtype=np.float32)
        self.ranker_trained = bool(arrays.get("ranker_trained", np.array([1]))[0])
        self.ranker = _Ranker(len(self.feature_mean), self.params["hidden"])
        state = {
            k.removeprefix("ranker."): torch.from_numpy(np.array(v))
            for k, v in arrays.items()
            if k.startswith("ranker.")
        }
        self.ranker.load_state_dict(state)
        self.ranker.eval()

    def save(self, folder: Path) -> None:
        super().save(folder)
        for name, model in self.models.items():
            model.save(Path(folder) / SOURCES_DIR / name)
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
        manifest["fitted_sources"] = sorted(self.models)
        (Path(folder) / MANIFEST).write_text(json.dumps(manifest, indent=2))

    @classmethod
    def load(cls, folder: Path) -> Self:
        from shoplm.recommend.registry import load_model

        model = super().load(folder)
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
        model.models = {
            name: load_model(Path(folder) / SOURCES_DIR / name)
            for name in manifest.get("fitted_sources", [])
        }
        return model


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _source_pool(workers: int) -> ThreadPoolExecutor:
    """One process-wide pool per size: threads are made once, not per request."""
    with _POOLS_LOCK:
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="hybrid-source")
        return _POOLS[workers]


def _unique_rows(pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the distinct values first (order of first appearance kept), then padding.

    Returns (values [B, M], valid [B, M]) with M the largest distinct count of any row.
    """
    order = np.argsort(pooled, axis=1, kind="stable")
    sorted_vals = np.take_along_axis(pooled, order, axis=1)
    first = np.ones_like(sorted_vals, dtype=bool)
    first[:, 1:] = sorted_vals[:, 1:] != sorted_vals[:, :-1]
    keep = np.zeros_like(first)
    np.put_along_axis(keep, order, first, axis=1)
    # Stable-sort kept entries to the front, preserving their original order.
    front = np.argsort(~keep, axis=1, kind="stable")
    values = np.take_along_axis(pooled, front, axis=1)
    valid = np.take_along_axis(keep, front, axis=1)
    m = max(int(valid.sum(axis=1).max(initial=1)), 1)
    return values[:, :m].astype(np.int64), valid[:, :m]


class HybridNoKG(Hybrid):
    """The hybrid without the knowledge-graph source: the ablation showing what kg adds.

    Everything else (sources, features, ranker, training) is the default hybrid's.
    """

    name = "hybrid-no-kg"

    def __init__(self, sources: Mapping[str, Mapping[str, Any]] | None = None, **params: Any):
        if sources is not None and KG_SOURCE in sources:
            raise ValueError(f"{self.name} cannot have the {KG_SOURCE!r} source")
        super().__init__(sources=sources, **params)

    @classmethod
    def default_sources(cls) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in super().default_sources().items() if k != KG_SOURCE}
