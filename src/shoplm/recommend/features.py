"""Item side features as tokens: brand, category path and attribute values.

What an item *is*, beyond its id, in a form models can learn an embedding for: the
text-aware sequential model adds a learned vector per token to each item, and the hybrid
ranker asks whether a candidate shares a brand or category with the user's history.  A new
item has its tokens the moment it is in the catalog, before anyone touched it.

Catalogs without text (the S3-Rec benchmarks hold only attribute ids) still have tokens:
each attribute value is split on whitespace and commas, so ``"attribute_ids": "12 40"``
gives the tokens ``attribute_ids=12`` and ``attribute_ids=40``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from shoplm.schema import Item

_SPLIT = re.compile(r"[\s,;|]+")
# Attribute values longer than this are free text, not a category-like value.
_MAX_VALUE_CHARS = 40


def item_tokens(item: Item) -> list[str]:
    """The item's tokens: ``brand=…``, every category path prefix, ``key=value`` pairs."""
    tokens: list[str] = []
    if item.brand.strip():
        tokens.append(f"brand={item.brand.strip().lower()}")
    if item.category.strip():
        parts = [p.strip().lower() for p in item.category.split(">") if p.strip()]
        tokens.extend("category=" + " > ".join(parts[: i + 1]) for i in range(len(parts)))
    for key, value in sorted(item.attributes.items()):
        for piece in _SPLIT.split(str(value).strip().lower()):
            if piece and len(piece) <= _MAX_VALUE_CHARS:
                tokens.append(f"{key.lower()}={piece}")
    return sorted(set(tokens))


class TokenVocab:
    """Tokens seen on at least ``min_items`` catalog items, in a fixed order.

    Tokens on a single item teach nothing another item can use, so they are left out.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, items: Sequence[Item], min_items: int = 2) -> TokenVocab:
        counts = Counter(token for item in items for token in item_tokens(item))
        return cls(sorted(t for t, n in counts.items() if n >= min_items))

    def matrix(self, items: Sequence[Item]) -> sp.csr_matrix:
        """Binary [len(items), len(vocab)] item-token matrix (unknown tokens dropped)."""
        rows, cols = [], []
        for row, item in enumerate(items):
            for token in item_tokens(item):
                col = self.index.get(token)
                if col is not None:
                    rows.append(row)
                    cols.append(col)
        data = np.ones(len(rows), dtype=np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(items), len(self)), dtype=np.float32)


def token_vectors(items: Sequence[Item], max_tokens: int = 2048) -> np.ndarray:
    """Dense L2-normalised TF-IDF rows over the ``max_tokens`` most common tokens.

    Rare tokens (a brand on two items) weigh more than common ones (a top category); an
    item with no tokens gets a zero row.
    """
    vocab = TokenVocab.build(items)
    matrix = vocab.matrix(items).tocsc()
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    if len(counts) > max_tokens:
        keep = np.sort(np.argsort(-counts, kind="stable")[:max_tokens])
        matrix, counts = matrix[:, keep], counts[keep]
    idf = np.log((1.0 + len(items)) / (1.0 + counts)) + 1.0
    dense = np.asarray((matrix @ sp.diags(idf.astype(np.float32))).toarray(), dtype=np.float32)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return dense / np.maximum(norms, 1e-12)


def content_vectors(
    items: Sequence[Item] | None,
    text_embeddings: np.ndarray | None,
    token_weight: float,
    max_tokens: int = 2048,
) -> np.ndarray:
    """What an item is, as one unit vector: its text embedding beside its token vector.

    The cosine of two such vectors is ``(text cosine + token_weight² · token cosine)``
    divided by the norms: ``token_weight`` says how much brand/category/attributes count
    against the words.  With no text (an id-only catalog) only the tokens remain.
    """
    parts = []
    if text_embeddings is not None:
        text = np.asarray(text_embeddings, dtype=np.float32)
        parts.append(text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12))
    if token_weight > 0 and items is not None:
        tokens = token_vectors(items, max_tokens)
        if tokens.shape[1]:
            parts.append(token_weight * tokens)
    if not parts:
        raise ValueError("content vectors need text embeddings or items with side tokens")
    vectors = np.hstack(parts) if len(parts) > 1 else parts[0]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


# A column whose share of non-zero rows is below this is scored as a sparse column.
_SPARSE_COLUMN_SHARE = 0.05


class CatalogScorer:
    """``profiles @ vectors.T`` for a fixed catalog, with its mostly-zero columns kept sparse.

    Content vectors are a dense text part beside hundreds of token columns that are almost
    all zero.  Scored densely, every request reads the whole [items, dim] block (about 50 MB
    for 12k items with 1,000 dims); split, the token part is a sparse product over its few
    non-zeros and the request reads a third as much.  Results equal the dense product up to
    float rounding.
    """

    def __init__(self, vectors: np.ndarray) -> None:
        self.source = vectors
        vectors = np.asarray(vectors, dtype=np.float32)
        share = (vectors != 0).mean(axis=0) if len(vectors) else np.zeros(vectors.shape[1])
        sparse = share < _SPARSE_COLUMN_SHARE
        self.dense_columns = np.flatnonzero(~sparse)
        self.sparse_columns = np.flatnonzero(sparse)
        self.dense = np.ascontiguousarray(vectors[:, self.dense_columns])
        self.sparse = sp.csr_matrix(vectors[:, self.sparse_columns])

    def scores(self, profiles: np.ndarray) -> np.ndarray:
        """float32 [len(profiles), items]."""
        out = profiles[:, self.dense_columns] @ self.dense.T
        if self.sparse.nnz:
            out += np.asarray((self.sparse @ profiles[:, self.sparse_columns].T).T)
        return np.asarray(out, dtype=np.float32)

    @classmethod
    def for_vectors(cls, cached: CatalogScorer | None, vectors: np.ndarray) -> CatalogScorer:
        """``cached`` while it was built from this very array, else a new scorer."""
        if cached is not None and cached.source is vectors:
            return cached
        return cls(vectors)
