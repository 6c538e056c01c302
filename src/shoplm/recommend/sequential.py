"""Sequential recommendation: a SASRec-style causal transformer over each user's item sequence.

What a shopper takes next depends most on what they took last (ink after a printer), which
order-free models (item-kNN over the whole history, ALS) blur.  SASRec (Kang & McAuley 2018)
reads the sequence with causal self-attention and scores every item by a dot product with
the last position's state.  We train it with the full-softmax cross-entropy over all items
(not one sampled negative per position), which is both faster to converge and stronger.

Two variants share the code:

- ``sasrec``: items are learned ID embeddings only (the classic model);
- ``sasrec-text``: an item's vector is the projection of its frozen text-encoder embedding
  plus a learned vector per side token (brand, category path, attribute values, see
  ``features``), plus its ID embedding.  Items with few interactions borrow from items with
  the same words and tokens, which is where ID-only models are weakest.  Validation also
  decides whether rare items keep their (barely trained, mostly noise) ID vectors or are
  represented by their text and tokens alone.

Training holds out each user's last training item: the model learns to predict every
earlier item from its prefix and early-stops on how well it ranks the held-out one (NDCG@10,
full ranking), so the epoch count is chosen on validation, never on test.  CPU training is
bounded by ``max_epochs`` and ``time_budget_s``; a GPU is used when present.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, Recommender, UserBatch, checked_text_vectors
from shoplm.recommend.blend import standardise
from shoplm.recommend.features import CatalogScorer, TokenVocab, content_vectors
from shoplm.recommend.itemknn import history_matrix
from shoplm.recommend.validation import ndcg_from_ranks, target_ranks

log = logging.getLogger("shoplm")

# Content weights tried on validation when ``content_weight`` is None (0 = sequence only).
CONTENT_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)
# Content weights tried for rare items (ID vectors barely trained: content may count more).
RARE_CONTENT_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)
# An item taken by at most this many training users is rare.
RARE_ITEM_USERS = 5
# Weights of the side-token part of the content vectors tried on validation.
TOKEN_WEIGHTS = (0.5, 2.0)
# Recency half-life (in history items) of the user's content profile.
CONTENT_HALF_LIFE = 5.0
# FitContext.options key of a callable replacing the epoch loop (same signature as
# ``SASRec._train_epochs``): how the engine trains on Ray (``shoplm.distributed``).
SEQUENCE_TRAINER_OPTION = "sequence_trainer"


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Limit torch's intra-op threads for the block (this machine's cores are shared)."""
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _ItemTower(nn.Module):
    """Every item's input/output vector: ID embedding + projected text + side-token vectors."""

    def __init__(
        self,
        n_items: int,
        dim: int,
        use_ids: bool,
        text: np.ndarray | None,
        tokens: sp.csr_matrix | None,
        id_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.ids = nn.Embedding(n_items, dim) if use_ids else None
        if self.ids is not None:
            nn.init.normal_(self.ids.weight, std=0.02)
        self.id_dropout = id_dropout
        self.text_proj: nn.Linear | None = None
        if text is not None:
            self.register_buffer("text", torch.from_numpy(np.asarray(text, np.float32)), False)
            self.text_proj = nn.Linear(text.shape[1], dim, bias=False)
            nn.init.normal_(self.text_proj.weight, std=0.02)
        self.token_bag: nn.EmbeddingBag | None = None
        if tokens is not None and tokens.nnz:
            tokens = tokens.tocsr()
            self.register_buffer("token_index", torch.from_numpy(tokens.indices.astype(np.int64)))
            self.register_buffer(
                "token_offsets", torch.from_numpy(tokens.indptr[:-1].astype(np.int64))
            )
            self.token_bag = nn.EmbeddingBag(tokens.shape[1], dim, mode="mean")
            nn.init.normal_(self.token_bag.weight, std=0.02)
        if self.ids is None and self.text_proj is None and self.token_bag is None:
            raise ValueError("an item tower needs ID embeddings, text vectors or side tokens")
        self.n_items = n_items
        self.dim = dim

    def forward(self, without_ids: torch.Tensor | None = None) -> torch.Tensor:
        """All item vectors; rows flagged in ``without_ids`` (bool [n_items]) get no ID part."""
        parts = []
        if self.ids is not None:
            ids = self.ids.weight
            if self.training and self.id_dropout > 0:
                keep = torch.rand(self.n_items, 1, device=ids.device) >= self.id_dropout
                ids = ids * keep
            if without_ids is not None:
                ids = ids * (~without_ids).to(ids.dtype)[:, None]
            parts.append(ids)
        if self.text_proj is not None:
            parts.append(self.text_proj(self.text))
        if self.token_bag is not None:
            parts.append(self.token_bag(self.token_index, self.token_offsets))
        return torch.stack(parts).sum(dim=0)


class _Block(nn.Module):
    """Pre-norm transformer block with causal self-attention.

    Sequences are right-padded, so a real position never attends to a pad (pads come after
    it) and the causal flag alone is the whole mask: the fused attention kernel applies.
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.feed_norm = nn.LayerNorm(dim)
        self.feed = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.dropout = nn.Dropout(dropout)
        self.p = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = (
            self.qkv(self.attention_norm(x))
            .view(batch, length, 3, self.heads, dim // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        attended = nn.functional.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.p if self.training else 0.0
        )
        x = x + self.dropout(self.out(attended.transpose(1, 2).reshape(batch, length, dim)))
        return x + self.dropout(self.feed(self.feed_norm(x)))


class _SequenceEncoder(nn.Module):
    """Causal transformer: item vectors of a right-padded sequence -> one state per position.

    Positions count back from the newest item (0 = newest), so "the last thing bought"
    always has the same position vector whatever the history's length.
    """

    def __init__(self, dim: int, max_len: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.positions = nn.Embedding(max_len, dim)
        nn.init.normal_(self.positions.weight, std=0.02)
        self.input_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(dim, heads, dropout) for _ in range(layers))
        self.output_norm = nn.LayerNorm(dim)

    def forward(self, vectors: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        length = vectors.shape[1]
        steps = torch.arange(length, device=vectors.device)
        back = (lengths[:, None] - 1 - steps[None, :]).clamp(min=0)
        x = self.dropout(self.input_norm(vectors + self.positions(back)))
        for block in self.blocks:
            x = block(x)
        return self.output_norm(x)


def _pad(sequences: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad item rows with 0 (masked by length); returns (rows [B, L], lengths [B])."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    rows = np.zeros((len(sequences), max(int(lengths.max(initial=1)), 1)), dtype=np.int64)
    for b, seq in enumerate(sequences):
        rows[b, : len(seq)] = seq
    return torch.from_numpy(rows), torch.from_numpy(lengths)


def _length_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of similar length (little padding), in shuffled order."""
    noisy = lengths + rng.random(len(lengths))
    order = np.argsort(noisy, kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


class SASRec(Recommender):
    """Self-attentive sequential recommender on item IDs (set ``use_text``/``use_tokens`` for more).

    Parameters: ``dim`` (vector size), ``layers``/``heads`` of the transformer, ``max_len``
    (newest items read per user), ``dropout``, ``lr``/``weight_decay`` (AdamW),
    ``batch_size`` (sequences per step), ``max_epochs``/``patience`` (early stopping on the
    held-out last item), ``valid_users`` (seeded sample scored per epoch),
    ``time_budget_s`` (stop training after this long), ``threads`` (torch CPU threads; one
    by default: on a shared two-core machine two threads thrash and run several times
    slower), ``negatives`` (sampled-softmax negatives per step, 0 = full softmax),
    ``id_dropout`` (share of ID vectors zeroed per step), ``text_vectors`` (``"base"``, the
    default: when the home's encoder is fine-tuned, read the item vectors of the base it was
    tuned from; ``"home"``: the tuned ones.  The encoder is tuned for the content model's
    next-item neighbourhood, which the ID vectors here already learn: on amazon_office the
    tuned vectors lowered sasrec-text's NDCG@10 by 3.6% and 7.3% on two seeds).

    Content (``use_text``/``use_tokens``): besides feeding the item tower, the item content
    vectors add a standardised "close to what the user took lately" score.  Its weight
    (``content_weight``), its weight for rare items (``rare_content_weight``, items seen by
    at most ``RARE_ITEM_USERS`` users) and the token part's weight (``token_weight``) are
    chosen on the held-out items when None: the setting that best finds rare held-out
    items among those within ``rare_tolerance`` of the best overall NDCG@10.  The 5%
    default trades a little overall NDCG for much better rare items: on amazon_office's
    validation items, 2% kept rare-item NDCG@10 at 0.037, 5% lifts it to 0.052 for 4% overall.
    """

    name = "sasrec"
    # Training never uses a user's newest item (it is the early-stopping target), so the
    # hybrid can learn its ranker on this very model's scores for that item.
    holds_out_last_item: ClassVar[bool] = True

    def __init__(
        self,
        dim: int = 64,
        layers: int = 2,
        heads: int = 2,
        max_len: int = 50,
        dropout: float = 0.3,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        batch_size: int = 256,
        negatives: int = 512,
        max_epochs: int = 60,
        patience: int = 3,
        valid_users: int = 3000,
        time_budget_s: float | None = 600.0,
        threads: int = 1,
        use_ids: bool = True,
        use_text: bool = False,
        use_tokens: bool = False,
        id_dropout: float = 0.0,
        content_weight: float | None = None,
        rare_content_weight: float | None = None,
        token_weight: float | None = None,
        rare_tolerance: float = 0.05,
        text_vectors: str = "base",
    ) -> None:
        if dim < 1 or layers < 1 or heads < 1 or dim % heads:
            raise ValueError(f"dim ({dim}) must be a positive multiple of heads ({heads})")
        if max_len < 1 or batch_size < 1 or max_epochs < 1:
            raise ValueError("max_len, batch_size and max_epochs must be at least 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if not (use_ids or use_text or use_tokens):
            raise ValueError("use at least one of use_ids, use_text, use_tokens")
        super().__init__(
            dim=dim,
            layers=layers,
            heads=heads,
            max_len=max_len,
            dropout=dropout,
            lr=lr,
            weight_decay=weight_decay,
            batch_size=batch_size,
            negatives=negatives,
            max_epochs=max_epochs,
            patience=patience,
            valid_users=valid_users,
            time_budget_s=time_budget_s,
            threads=threads,
            use_ids=use_ids,
            use_text=use_text,
            use_tokens=use_tokens,
            id_dropout=id_dropout,
            content_weight=content_weight,
            rare_content_weight=rare_content_weight,
            token_weight=token_weight,
            rare_tolerance=rare_tolerance,
            text_vectors=checked_text_vectors(text_vectors),
        )
        self.item_table = np.zeros((0, dim), dtype=np.float32)
        self.item_content = np.zeros((0, 0), dtype=np.float32)
        self.content_weight = 0.0
        self.rare_content_weight = 0.0
        self.rare_items = np.zeros(0, dtype=bool)
        self.report: dict[str, Any] = {}
        self.token_weight = 0.0
        self._content_options: dict[float, np.ndarray] = {}
        self._table_options: dict[str, np.ndarray] = {}
        self._scorer: CatalogScorer | None = None
        self.rare_ids = "ids"
        self.encoder = _SequenceEncoder(dim, max_len, layers, heads, dropout)
        self.history: list[dict[str, float]] = []

    # -- training ------------------------------------------------------------------------
    def _tower(self, data: Interactions, context: FitContext) -> _ItemTower:
        p = self.params
        self.item_content = np.zeros((data.n_items, 0), dtype=np.float32)
        self.content_weight = self.rare_content_weight = 0.0
        self.rare_items = data.item_popularity() <= RARE_ITEM_USERS
        text = None
        if p["use_text"]:
            vectors = context.text_vectors(p["text_vectors"])
            if vectors is None:
                raise ValueError(
                    f"{self.name} needs item text vectors: FitContext.item_embeddings is None"
                )
            text = np.asarray(vectors, dtype=np.float32)
            if len(text) != data.n_items:
                raise ValueError(
                    f"FitContext.item_embeddings has {len(text)} rows but the interactions "
                    f"have {data.n_items} items"
                )
        tokens = None
        if p["use_tokens"] and context.items is not None:
            if len(context.items) != data.n_items:
                raise ValueError(
                    f"FitContext.items has {len(context.items)} items but the interactions "
                    f"have {data.n_items}"
                )
            tokens = TokenVocab.build(context.items).matrix(context.items)
        if not p["use_ids"] and text is None and (tokens is None or not tokens.nnz):
            raise ValueError(f"{self.name}: no ID embeddings and no item text or tokens to use")
        has_tokens = tokens is not None and tokens.nnz > 0
        self._content_options = {}
        if (text is not None or has_tokens) and p["content_weight"] != 0:
            items = context.items if has_tokens else None
            fixed = p["token_weight"]
            token_weights = [fixed] if fixed is not None else list(TOKEN_WEIGHTS)
            self._content_options = {
                w: content_vectors(items, text, w) for w in (token_weights if has_tokens else [0.0])
            }
            self.token_weight = next(iter(self._content_options))
            self.item_content = self._content_options[self.token_weight]
            self.content_weight = p["content_weight"] or 0.0
            rare = p["rare_content_weight"]
            self.rare_content_weight = self.content_weight if rare is None else rare
        return _ItemTower(data.n_items, p["dim"], p["use_ids"], text, tokens, p["id_dropout"])

    def fit(self, data: Interactions, context: FitContext) -> None:
        p = self.params
        self.n_items = data.n_items
        self.report = {}
        torch.manual_seed(context.seed)
        rng = np.random.default_rng(context.seed)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        with torch_threads(p["threads"]):
            tower = self._tower(data, context).to(device)
            self.encoder = _SequenceEncoder(
                p["dim"], p["max_len"], p["layers"], p["heads"], p["dropout"]
            ).to(device)
            train, valid = _split_histories(data.histories, p["max_len"])
            if not train:
                # Nothing to learn from (every history has one item): the item vectors
                # alone still score, so the model is usable, just untrained.
                log.info("%s: no sequence of two or more items; not training", self.name)
                self._finish(tower)
                return
            valid_rows = rng.permutation(len(valid))[: p["valid_users"]]
            valid = [valid[i] for i in np.sort(valid_rows)]
            started = time.perf_counter()
            # A trainer set by the engine (Ray Train, ``shoplm.distributed``) replaces the
            # in-process epoch loop; either way the best epoch's weights end up in the modules.
            trainer = context.options.get(SEQUENCE_TRAINER_OPTION) or SASRec._train_epochs
            trainer(self, tower, train, valid, rng)
            self._finish(tower)
            scores = [h["valid_ndcg@10"] for h in self.history]
            self.report = {
                "epochs": len(self.history),
                "best_epoch": int(np.argmax(scores)) + 1,
                "valid_ndcg@10": round(max(scores), 6),
                "train_seconds": round(time.perf_counter() - started, 2),
            }
            if p["use_text"]:  # whose item vectors the tower read
                self.report["text_vectors"] = context.text_source(p["text_vectors"])
            self._choose_content_weight(valid)

    def _train_epochs(
        self,
        tower: _ItemTower,
        train: list[np.ndarray],
        valid: list[np.ndarray],
        rng: np.random.Generator,
    ) -> None:
        """The in-process epoch loop: early-stops on validation, keeps the best epoch's weights.

        Fills ``self.history`` with one ``{"epoch", "loss", "valid_ndcg@10"}`` per epoch.
        """
        p = self.params
        device = next(tower.parameters()).device
        params = list(tower.parameters()) + list(self.encoder.parameters())
        optimiser = torch.optim.AdamW(params, lr=p["lr"], weight_decay=p["weight_decay"])
        lengths = np.array([len(s) for s in train])
        best, best_state, stale = -1.0, None, 0
        started = time.perf_counter()
        self.history = []
        for epoch in range(p["max_epochs"]):
            tower.train()
            self.encoder.train()
            total, count = 0.0, 0
            for batch in _length_batches(lengths, p["batch_size"], rng):
                loss, n = self._step([train[i] for i in batch], tower, device)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * n
                count += n
            score = self._validate(valid, tower, device) if valid else 0.0
            elapsed = time.perf_counter() - started
            self.history.append(
                {"epoch": epoch + 1, "loss": total / max(count, 1), "valid_ndcg@10": score}
            )
            log.info(
                "%s epoch %d: loss %.4f valid NDCG@10 %.4f (%.0f s)",
                self.name,
                epoch + 1,
                total / max(count, 1),
                score,
                elapsed,
            )
            if score > best:
                best, stale = score, 0
                best_state = (
                    copy.deepcopy(tower.state_dict()),
                    copy.deepcopy(self.encoder.state_dict()),
                )
            else:
                stale += 1
            budget = p["time_budget_s"]
            if stale >= p["patience"] or (budget is not None and elapsed > budget):
                break
        if best_state is not None:
            tower.load_state_dict(best_state[0])
            self.encoder.load_state_dict(best_state[1])

    def _finish(self, tower: _ItemTower) -> None:
        """Freeze the item vectors; keep a variant without rare items' ID part to choose from.

        A rare item's ID vector was updated by a handful of sequences: mostly noise that pulls
        the item away from what its text says.  When the tower also has text or tokens, the
        table where rare items are text-only is an option for validation to pick.
        """
        tower.eval()
        self.encoder.eval()
        with torch.no_grad():
            self.item_table = tower().float().cpu().numpy()
            self._table_options = {"ids": self.item_table}
            has_content = tower.text_proj is not None or tower.token_bag is not None
            if tower.ids is not None and has_content and self.rare_items.any():
                rare = torch.from_numpy(self.rare_items).to(tower.ids.weight.device)
                self._table_options["rare-text-only"] = tower(rare).float().cpu().numpy()
        self.encoder = self.encoder.cpu()

    def _step(
        self, sequences: list[np.ndarray], tower: _ItemTower, device: torch.device
    ) -> tuple[torch.Tensor, int]:
        """Full-softmax cross-entropy of predicting each next item from its prefix."""
        rows, lengths = _pad([s[:-1] for s in sequences])
        targets, _ = _pad([s[1:] for s in sequences])
        rows, lengths, targets = rows.to(device), lengths.to(device), targets.to(device)
        table = tower()
        hidden = self.encoder(table[rows], lengths)
        real = torch.arange(rows.shape[1], device=device)[None, :] < lengths[:, None]
        states, wanted = hidden[real], targets[real]
        negatives = self.params["negatives"]
        if not negatives or negatives >= self.n_items:
            return nn.functional.cross_entropy(states @ table.T, wanted), len(wanted)
        # Sampled softmax: the target against shared uniform negatives, each standing in for
        # n_items / negatives items (the log correction), an accidental hit masked out.
        sampled = torch.randint(0, self.n_items, (negatives,), device=device)
        positive = (states * table[wanted]).sum(dim=1, keepdim=True)
        other = states @ table[sampled].T + math.log(self.n_items / negatives)
        other = other.masked_fill(sampled[None, :] == wanted[:, None], -torch.inf)
        logits = torch.cat([positive, other], dim=1)
        zeros = torch.zeros(len(wanted), dtype=torch.long, device=device)
        return nn.functional.cross_entropy(logits, zeros), len(wanted)

    @torch.no_grad()
    def _validate(self, valid: list[np.ndarray], tower: _ItemTower, device: torch.device) -> float:
        """Mean NDCG@10 of the held-out last item, full ranking, seen items excluded."""
        tower.eval()
        self.encoder.eval()
        table = tower()
        gains = []
        for start in range(0, len(valid), 1024):
            chunk = valid[start : start + 1024]
            inputs = [s[:-1][-self.params["max_len"] :] for s in chunk]
            rows, lengths = _pad(inputs)
            rows, lengths = rows.to(device), lengths.to(device)
            hidden = self.encoder(table[rows], lengths)
            scores = hidden[torch.arange(len(chunk), device=device), lengths - 1] @ table.T
            for b, seq in enumerate(chunk):
                scores[b, torch.from_numpy(seq[:-1]).to(device)] = -torch.inf
            target = torch.from_numpy(np.array([s[-1] for s in chunk])).to(device)
            target_scores = scores[torch.arange(len(chunk), device=device), target]
            rank = (scores > target_scores[:, None]).sum(dim=1)
            gains.append(torch.where(rank < 10, 1.0 / torch.log2(rank.float() + 2.0), 0.0))
        return float(torch.cat(gains).mean())

    # -- serving -------------------------------------------------------------------------
    def user_vectors(self, batch: UserBatch) -> np.ndarray:
        """float32 [len(batch), dim]: the state after each user's newest item (0 if none)."""
        max_len = self.params["max_len"]
        out = np.zeros((len(batch), self.item_table.shape[1]), dtype=np.float32)
        keep, inputs = [], []
        for b, history in enumerate(batch.histories):
            history = np.asarray(history, dtype=np.int64)
            if len(history) and history.min() < 0:
                raise ValueError(f"UserBatch.histories[{b}] holds a negative item row")
            history = history[history < self.n_items][-max_len:]
            if len(history):
                keep.append(b)
                inputs.append(history)
        if not keep:
            return out
        table = torch.from_numpy(self.item_table)
        with torch_threads(self.params["threads"]), torch.no_grad():
            self.encoder.eval()
            for start in range(0, len(inputs), 1024):
                rows, lengths = _pad(inputs[start : start + 1024])
                hidden = self.encoder(table[rows], lengths)
                last = hidden[torch.arange(len(rows)), lengths - 1]
                out[keep[start : start + 1024]] = last.numpy()
        return out

    def score(self, batch: UserBatch) -> np.ndarray:
        return self._scores(batch, [(self.content_weight, self.rare_content_weight)])[0]

    def _scores(self, batch: UserBatch, weights: list[tuple[float, float]]) -> list[np.ndarray]:
        """Scores under each (content weight, rare-item content weight) pair.

        Score = standardised sequence score + w_i * standardised content score, where w_i is
        the rare-item weight for items seen by at most ``RARE_ITEM_USERS`` training users
        (their ID vectors learned little) and the content weight for the rest.
        """
        sequence = self.user_vectors(batch) @ self.item_table.T
        if not self.item_content.shape[1] or not any(w or r for w, r in weights):
            return [sequence for _ in weights]
        profile = history_matrix(batch, self.n_items, CONTENT_HALF_LIFE) @ self.item_content
        profile = np.asarray(profile, dtype=np.float32)
        profile /= np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)
        self._scorer = CatalogScorer.for_vectors(self._scorer, self.item_content)
        content = standardise(self._scorer.scores(profile))
        sequence = standardise(sequence)
        out = []
        for weight, rare_weight in weights:
            per_item = np.where(self.rare_items, rare_weight, weight).astype(np.float32)
            out.append(sequence + content * per_item[None, :] if per_item.any() else sequence)
        return out

    def _choose_content_weight(self, valid: list[np.ndarray]) -> None:
        """Pick the content, rare-item and token weights and the rare items' ID policy.

        Each option is scored on the held-out items: overall NDCG@10 and NDCG@10 of the
        held-out items that are rare.
        """
        options, self._content_options = self._content_options, {}
        tables, self._table_options = self._table_options, {}
        if not valid or (not self.item_content.shape[1] and len(tables) < 2):
            return
        p = self.params
        if not self.item_content.shape[1]:
            weights, rare_weights = [0.0], [0.0]
            options = {0.0: self.item_content}
        else:
            weights = [p["content_weight"]] if p["content_weight"] is not None else CONTENT_WEIGHTS
            if p["rare_content_weight"] is not None:
                rare_weights = [p["rare_content_weight"]]
            elif p["content_weight"] is not None:
                rare_weights = [p["content_weight"]]
            else:
                rare_weights = RARE_CONTENT_WEIGHTS
        pairs = [(w, r) for w in weights for r in rare_weights]
        if len(pairs) * len(options) * len(tables) <= 1:
            return
        rare_target = self.rare_items[np.array([s[-1] for s in valid])]
        overall: dict[tuple[float, float, float, str], float] = {}
        rare: dict[tuple[float, float, float, str], float] = {}
        for policy, table in tables.items():
            self.item_table = table
            for token_weight, vectors in options.items():
                self.item_content = vectors
                ranks: list[list[np.ndarray]] = [[] for _ in pairs]
                for start in range(0, len(valid), 1024):
                    chunk = valid[start : start + 1024]
                    batch = UserBatch(np.full(len(chunk), -1), [s[:-1] for s in chunk])
                    targets = np.array([s[-1] for s in chunk])
                    for i, scores in enumerate(self._scores(batch, pairs)):
                        ranks[i].append(target_ranks(scores, targets, batch))
                for (w, r), found in zip(pairs, ranks, strict=True):
                    found_all = np.concatenate(found)
                    overall[(w, r, token_weight, policy)] = ndcg_from_ranks(found_all)
                    rare[(w, r, token_weight, policy)] = ndcg_from_ranks(found_all[rare_target])
        # Rare items are what content is for: among the settings within ``rare_tolerance``
        # of the best overall NDCG, take the one that best finds rare held-out items.
        top = max(overall.values())
        near = [key for key, value in overall.items() if value >= (1 - p["rare_tolerance"]) * top]
        best = max(near, key=lambda key: (rare[key], overall[key]))
        self.content_weight, self.rare_content_weight, self.token_weight, self.rare_ids = best
        self.item_content = options[self.token_weight]
        self.item_table = tables[self.rare_ids]
        self.report.update(
            {
                "content_weight": self.content_weight,
                "rare_content_weight": self.rare_content_weight,
                "token_weight": self.token_weight,
                "rare_item_vectors": self.rare_ids,
                "valid_ndcg@10_with_content": round(overall[best], 6),
                "valid_rare_ndcg@10_with_content": round(rare[best], 6),
                "valid_best_ndcg@10": round(top, 6),
                "valid_options": [
                    {
                        "content_weight": key[0],
                        "rare_content_weight": key[1],
                        "token_weight": key[2],
                        "rare_item_vectors": key[3],
                        "ndcg@10": round(value, 6),
                        "rare_ndcg@10": round(rare[key], 6),
                    }
                    for key, value in overall.items()
                ],
            }
        )
        log.info("%s: content options %s (valid NDCG@10 %.4f)", self.name, best, overall[best])

    def similar_items(self, item_row: int) -> np.ndarray:
        if not 0 <= item_row < self.n_items:
            raise ValueError(f"item row {item_row} is outside 0..{self.n_items - 1}")
        return super().similar_items(item_row)

    # -- persistence ---------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "item_table": self.item_table,
            "item_content": self.item_content,
            "content_weight": np.array([self.content_weight], dtype=np.float32),
            "rare_content_weight": np.array([self.rare_content_weight], dtype=np.float32),
            "rare_items": self.rare_items.astype(np.uint8),
        }
        for key, value in self.encoder.state_dict().items():
            out[f"encoder.{key}"] = value.detach().cpu().numpy()
        return out

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_table = np.ascontiguousarray(arrays["item_table"], dtype=np.float32)
        self.item_content = np.ascontiguousarray(arrays["item_content"], dtype=np.float32)
        self.content_weight = float(arrays["content_weight"][0])
        self.rare_content_weight = float(arrays["rare_content_weight"][0])
        self.rare_items = arrays["rare_items"].astype(bool)
        state = {
            key.removeprefix("encoder."): torch.from_numpy(np.array(value))
            for key, value in arrays.items()
            if key.startswith("encoder.")
        }
        self.encoder.load_state_dict(state)
        self.encoder.eval()


class SASRecText(SASRec):
    """SASRec whose item vectors come from the item's text and side tokens, plus its ID."""

    name = "sasrec-text"

    def __init__(self, **params: Any) -> None:
        params.setdefault("use_text", True)
        params.setdefault("use_tokens", True)
        super().__init__(**params)


def _split_histories(
    histories: list[np.ndarray], max_len: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(training sequences, validation sequences) from each user's ordered history.

    Training reads each history without its last item (the validation target), keeping the
    newest ``max_len + 1`` items; validation sequences are the whole history, whose last
    item must be found from the ones before it.
    """
    train, valid = [], []
    for history in histories:
        history = np.asarray(history, dtype=np.int64)
        if len(history) >= 3:
            train.append(history[:-1][-(max_len + 1) :])
        if len(history) >= 2:
            valid.append(history[-(max_len + 1) :])
    return train, valid
