"""Keyword search over item fields with BM25 (the ``bm25s`` library computes the weights).

Documents are field dicts (title, brand, category, description, attributes).  A field counts
more by repeating its tokens: with the default weights a title word weighs twice a description
word, in term frequency and in document length alike.  Tokens come from
:func:`shoplm.text.tokenize`, the same function queries go through, so both sides agree.

bm25s builds a sparse matrix of per-(token, item) BM25 scores; a query adds up the columns of
its tokens, which takes a few hundred microseconds over tens of thousands of items.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import bm25s
import numpy as np

from shoplm.index.rows import row_mask
from shoplm.schema import Item
from shoplm.text.tokenize import tokenize

# bm25s sets its own logger to DEBUG, which leaks "Building index" lines into any CLI.
logging.getLogger("bm25s").setLevel(logging.WARNING)

FORMAT = 1
ARRAYS_FILE = "bm25.npz"
META_FILE = "lexical.json"
DEFAULT_FIELD_WEIGHTS: dict[str, int] = {
    "title": 2,
    "brand": 1,
    "category": 1,
    "description": 1,
    "attributes": 1,
}
OTHER_FIELD_WEIGHT = 1  # for fields the weights do not name
TITLE_FIELD = "title"  # kept per row as normalised text (see ``LexicalIndex.titles``)


def lexical_fields(item: Item) -> dict[str, str]:
    """The fields of an item the lexical index sees (fit and the live overlay alike)."""
    attributes = " ".join(f"{k} {v}" for k, v in item.attributes.items())
    return {
        "title": item.title,
        "brand": item.brand,
        "category": item.category,
        "description": item.description,
        "attributes": attributes,
    }


class LexicalIndex:
    """BM25 over item rows: row ``i`` is the ``i``-th document given to ``build``."""

    def __init__(
        self,
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        vocab: Sequence[str],
        size: int,
        field_weights: Mapping[str, int],
        params: Mapping[str, float | str],
        titles: Sequence[str] | None = None,
    ) -> None:
        # CSC layout of the [size, len(vocab)] score matrix: column t holds the items with
        # token t in indices[indptr[t]:indptr[t + 1]] and their BM25 weights in data[...].
        self._data = np.ascontiguousarray(data, dtype=np.float32)
        self._indices = np.ascontiguousarray(indices, dtype=np.int32)
        self._indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self._tokens = list(vocab)
        self._token_ids = {token: i for i, token in enumerate(self._tokens)}
        self.size = int(size)
        self.field_weights = dict(field_weights)
        self.params = dict(params)
        self._vocabulary: dict[str, int] | None = None
        self._doc_lengths: np.ndarray | None = None
        # Each row's title as its tokens joined by spaces: re-rankers read word order and
        # phrase matches from it without the store.  None for indexes saved without it.
        self.titles = list(titles) if titles is not None else None
        if self.titles is not None and len(self.titles) != self.size:
            raise ValueError(f"lexical index has {self.size} rows but {len(self.titles)} titles")
        if len(self._indptr) != len(self._tokens) + 1:
            raise ValueError(
                f"lexical index is inconsistent: {len(self._tokens)} tokens but "
                f"{len(self._indptr)} column pointers"
            )

    @classmethod
    def build(
        cls,
        docs: Sequence[Mapping[str, str | None]],
        field_weights: Mapping[str, float] | None = None,
        k1: float = 1.5,
        b: float = 0.75,
        method: str = "lucene",
    ) -> LexicalIndex:
        """Index ``docs``; ``field_weights`` override the defaults per field (0 leaves one out).

        Weights are whole repeat counts; fields missing from both the given and the default
        weights count once.
        """
        weights = _weights(field_weights)
        token_ids: dict[str, int] = {}
        corpus: list[list[int]] = []
        titles: list[str] = []
        for row, doc in enumerate(docs):
            if not isinstance(doc, Mapping):
                raise TypeError(f"document {row} must be a dict of field texts, got {type(doc)}")
            ids: list[int] = []
            title = ""
            for field, text in doc.items():
                if text is None or text == "":
                    continue
                if not isinstance(text, str):
                    raise TypeError(
                        f"document {row} field {field!r} must be a string, "
                        f"got {type(text).__name__}"
                    )
                repeat = weights.get(field, OTHER_FIELD_WEIGHT)
                if repeat == 0:
                    continue
                tokens = tokenize(text)
                if field == TITLE_FIELD:
                    title = " ".join(tokens)
                field_ids = [token_ids.setdefault(t, len(token_ids)) for t in tokens]
                ids.extend(field_ids * repeat)
            corpus.append(ids)
            titles.append(title)

        params = {"k1": k1, "b": b, "method": method}
        if not token_ids:  # no documents, or none with a single token
            empty = np.zeros(0)
            return cls(empty, empty, np.zeros(1), [], len(corpus), weights, params, titles)
        bm25 = bm25s.BM25(k1=k1, b=b, method=method)
        bm25.index((corpus, token_ids), create_empty_token=False, show_progress=False)
        matrix = bm25.scores
        return cls(
            matrix["data"],
            matrix["indices"],
            matrix["indptr"],
            list(token_ids),  # dicts keep insertion order, which is id order
            len(corpus),
            weights,
            params,
            titles,
        )

    def search(
        self, query: str, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows (int64) and scores (float32) of the best ``k`` matching items, best first.

        Only items sharing a token with the query are returned (score > 0); ties go to the
        lower row.  Empty arrays when no query token is in the index.  ``allowed``, a bool
        mask over rows, keeps only the rows where it is True.
        """
        ids = self._query_ids(query)
        return self._search_ids(ids, None, k, allowed)

    def search_tokens(
        self,
        tokens: Mapping[str, float] | Sequence[str],
        k: int,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`search` for tokens already made (by a query rewriter, say).

        ``tokens`` is a sequence (each counts once) or token -> weight, where a weight scales
        that token's BM25 contribution; unknown tokens are ignored.
        """
        weights = tokens if isinstance(tokens, Mapping) else dict.fromkeys(tokens, 1.0)
        ids, factors = [], []
        for token, weight in weights.items():
            t = self._token_ids.get(token)
            if t is not None and weight > 0:
                ids.append(t)
                factors.append(float(weight))
        return self._search_ids(ids, factors, k, allowed)

    def token_scores(self, tokens: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """BM25 weight of each token in each given row: float32 ``[len(tokens), len(rows)]``.

        0 where the row lacks the token or the index does not know it.  Re-rankers read
        per-token matches from here instead of re-tokenising candidate texts.
        """
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros((len(tokens), len(rows)), dtype=np.float32)
        if not len(rows) or not len(tokens):
            return out
        position = np.full(self.size, -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        for i, token in enumerate(tokens):
            t = self._token_ids.get(token)
            if t is None:
                continue
            start, end = self._indptr[t], self._indptr[t + 1]
            where = position[self._indices[start:end]]
            found = where >= 0
            out[i, where[found]] = self._data[start:end][found]
        return out

    def doc_lengths(self) -> np.ndarray:
        """Distinct tokens per row (int32), a length feature that needs no stored text."""
        if self._doc_lengths is None:
            self._doc_lengths = np.bincount(self._indices, minlength=self.size).astype(np.int32)
        return self._doc_lengths

    def _search_ids(
        self,
        ids: Sequence[int],
        factors: Sequence[float] | None,
        k: int,
        allowed: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        if not ids or k <= 0:
            return _empty()
        scores = np.zeros(self.size, dtype=np.float32)
        data, indices, indptr = self._data, self._indices, self._indptr
        for i, t in enumerate(ids):
            start, end = indptr[t], indptr[t + 1]
            column = data[start:end]
            if factors is not None and factors[i] != 1.0:
                column = column * np.float32(factors[i])
            scores[indices[start:end]] += column  # an item appears once per column
        if allowed is not None:
            scores[~row_mask(allowed, self.size)] = 0.0
        rows = np.flatnonzero(scores > 0)
        return _top(rows, scores[rows], int(k))

    def search_many(
        self, queries: Sequence[str], k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`search` for each query, in order."""
        return [self.search(query, k, allowed) for query in queries]

    def vocabulary(self) -> dict[str, int]:
        """Token -> number of items containing it (shared; do not modify)."""
        if self._vocabulary is None:
            counts = np.diff(self._indptr).tolist()
            self._vocabulary = dict(zip(self._tokens, counts, strict=True))
        return self._vocabulary

    def save(self, folder: Path) -> None:
        """``bm25.npz`` (score matrix) plus ``lexical.json`` (vocabulary, settings); no pickle."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / ARRAYS_FILE, data=self._data, indices=self._indices, indptr=self._indptr)
        meta = {
            "format": FORMAT,
            "size": self.size,
            "field_weights": self.field_weights,
            "params": self.params,
            "vocab": self._tokens,
            "titles": self.titles,
        }
        (folder / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        folder = Path(folder)
        meta_path, arrays_path = folder / META_FILE, folder / ARRAYS_FILE
        if not meta_path.is_file() or not arrays_path.is_file():
            raise FileNotFoundError(
                f"no lexical index in {folder}: expected {META_FILE} and {ARRAYS_FILE}"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{meta_path}: unsupported lexical index format {meta.get('format')}")
        with np.load(arrays_path, allow_pickle=False) as arrays:
            data, indices, indptr = arrays["data"], arrays["indices"], arrays["indptr"]
        return cls(
            data,
            indices,
            indptr,
            meta["vocab"],
            meta["size"],
            meta["field_weights"],
            meta["params"],
            meta.get("titles"),
        )

    def _query_ids(self, query: str) -> list[int]:
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        known = (self._token_ids.get(t) for t in tokenize(query))
        return list(dict.fromkeys(t for t in known if t is not None))  # a repeat adds nothing


def _weights(field_weights: Mapping[str, float] | None) -> dict[str, int]:
    weights = dict(DEFAULT_FIELD_WEIGHTS)
    for field, weight in (field_weights or {}).items():
        if not (isinstance(weight, int | float) and float(weight).is_integer() and weight >= 0):
            raise ValueError(
                f"field weight for {field!r} must be a whole number >= 0 (a repeat count), "
                f"got {weight!r}"
            )
        weights[field] = int(weight)
    return weights


def _top(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` by score, ties to the lower row; ``rows`` come in ascending order."""
    if len(rows) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        above = np.flatnonzero(scores > kth)
        ties = np.flatnonzero(scores == kth)[: k - len(above)]
        keep = np.concatenate([above, ties])
        rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))
    return rows[order].astype(np.int64), scores[order].astype(np.float32)


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
