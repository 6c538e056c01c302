"""Generated, seeded workloads for the benchmark suite: catalogs, queries, interaction logs.

Encoding a million titles with MiniLM takes hours on two cores, so catalogs carry
**synthetic vectors**: each item's vector is its category's centroid plus a brand offset
plus noise, unit-normalised (384-d like MiniLM).  Items of a category sit together and a
query lands near its category, which is what an ANN index is sensitive to; they are not
embeddings of the titles.  Titles are built from word lists by category and brand, with a
long tail of model codes, so BM25 sees a realistic mix of common and rare tokens.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

DIM = 384
N_CATEGORIES = 60
N_BRANDS = 400
WORDS_PER_CATEGORY = 40
_SYLLABLES = [
    "ka", "lo", "mi", "ne", "su", "tor", "vex", "bri", "dan", "qui", "ro", "za", "pel",
    "mon", "gri", "fal", "sto", "ver", "ul", "tec", "nor", "pix", "lum", "cor",
]  # fmt: skip
_DEPARTMENTS = ["Home", "Office", "Kitchen", "Garden", "Audio", "Sports", "Toys", "Tools"]
_ADJECTIVES = [
    "wireless", "portable", "compact", "heavy", "duty", "premium", "classic", "mini", "pro",
    "ergonomic", "waterproof", "foldable", "rechargeable", "smart", "digital", "organic",
    "stainless", "steel", "wooden", "cotton", "leather", "large", "small", "adjustable",
    "quiet", "fast", "lightweight", "durable", "modern", "vintage",
]  # fmt: skip
_COLOURS = ["black", "white", "grey", "blue", "red", "green", "silver", "gold", "pink", "brown"]


@dataclass
class Catalog:
    """Items as the indexes see them: field texts and (synthetic) vectors, row-aligned."""

    titles: list[str]
    brands: list[str]
    categories: list[str]
    vectors: np.ndarray  # float32 [n, DIM], unit rows: SYNTHETIC, not encoded text

    def __len__(self) -> int:
        return len(self.titles)

    def docs(self) -> list[dict[str, str]]:
        """The field dicts ``LexicalIndex.build`` reads (title, brand, category)."""
        return [
            {"title": t, "brand": b, "category": c}
            for t, b, c in zip(self.titles, self.brands, self.categories, strict=True)
        ]


@dataclass
class Queries:
    """Search queries (2-3 words of a random item's title) and their synthetic vectors."""

    texts: list[str]
    vectors: np.ndarray  # float32 [len(texts), DIM]


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables))


def _vocabulary(seed: int) -> tuple[list[str], list[list[str]], list[str]]:
    """Category names, each category's own words, brand names: fixed for a seed."""
    rng = random.Random(seed)
    words: dict[str, None] = {}
    while len(words) < N_CATEGORIES * (WORDS_PER_CATEGORY + 1):
        words[_word(rng, rng.choice((2, 3)))] = None
    pool = list(words)
    nouns = pool[:N_CATEGORIES]
    own = [
        pool[N_CATEGORIES + i * WORDS_PER_CATEGORY : N_CATEGORIES + (i + 1) * WORDS_PER_CATEGORY]
        for i in range(N_CATEGORIES)
    ]
    departments = [_DEPARTMENTS[i % len(_DEPARTMENTS)] for i in range(N_CATEGORIES)]
    categories = [f"{d} > {noun.title()}" for d, noun in zip(departments, nouns, strict=True)]
    brands: dict[str, None] = {}
    while len(brands) < N_BRANDS:
        brands[_word(rng, rng.choice((2, 3))).title()] = None
    return categories, own, list(brands)


def _unit(matrix: np.ndarray) -> np.ndarray:
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def make_catalog(n: int, seed: int = 42) -> Catalog:
    """``n`` items in ``N_CATEGORIES`` categories with Zipf-skewed sizes; seeded."""
    categories, own, brands = _vocabulary(seed)
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, N_CATEGORIES + 1) ** 0.6
    category_of = rng.choice(N_CATEGORIES, size=n, p=weights / weights.sum()).astype(np.int64)
    brand_of = rng.integers(0, N_BRANDS, size=n)
    centroids = _unit(rng.standard_normal((N_CATEGORIES, DIM), dtype=np.float32))
    brand_offsets = _unit(rng.standard_normal((N_BRANDS, DIM), dtype=np.float32))
    vectors = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 65_536):  # chunks bound the temporary memory
        stop = min(start + 65_536, n)
        noise = rng.standard_normal((stop - start, DIM), dtype=np.float32) / np.sqrt(DIM)
        vectors[start:stop] = (
            centroids[category_of[start:stop]]
            + 0.35 * brand_offsets[brand_of[start:stop]]
            + 0.9 * noise
        )
    _unit(vectors)

    wr = random.Random(seed + 1)
    titles = []
    for c, b in zip(category_of.tolist(), brand_of.tolist(), strict=True):
        words = [brands[b]]
        words += wr.sample(_ADJECTIVES, wr.randint(1, 3))
        words += wr.sample(own[c], wr.randint(1, 3))
        words.append(categories[c].split(" > ")[1].lower())
        if wr.random() < 0.7:
            words.append(wr.choice(_COLOURS))
        if wr.random() < 0.6:  # model codes: the long tail of rare tokens
            words.append(f"{wr.choice('abcdefghkmrstxz')}{wr.randint(10, 99999)}")
        titles.append(" ".join(words))
    return Catalog(
        titles=titles,
        brands=[brands[b] for b in brand_of.tolist()],
        categories=[categories[c] for c in category_of.tolist()],
        vectors=vectors,
    )


def make_queries(catalog: Catalog, n: int, seed: int = 7) -> Queries:
    """Distinct 2-3 word windows of random titles; vectors near the source item's category."""
    rng = random.Random(seed)
    texts: dict[str, int] = {}
    for _ in range(50 * n):
        if len(texts) >= n:
            break
        row = rng.randrange(len(catalog))
        words = catalog.titles[row].split()
        length = rng.choice((2, 3))
        start = rng.randrange(max(1, len(words) - length + 1))
        texts.setdefault(" ".join(words[start : start + length]), row)
    noise = np.random.default_rng(seed).standard_normal((len(texts), DIM), dtype=np.float32)
    rows = np.fromiter(texts.values(), dtype=np.int64, count=len(texts))
    vectors = _unit(catalog.vectors[rows] + 0.5 * noise / np.sqrt(DIM))
    return Queries(list(texts), vectors.astype(np.float32))


def make_events(n_events: int, n_items: int, seed: int = 11) -> sp.csr_matrix:
    """A user x item matrix of ``n_events`` implicit events (weight 1 each, duplicates summed).

    20 events per user on average; items follow a Zipf-like popularity so that a few items
    are hot and most are in the long tail, as in shop logs.
    """
    rng = np.random.default_rng(seed)
    n_users = max(n_events // 20, 2)
    users = rng.integers(0, n_users, size=n_events)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    items = rng.choice(n_items, size=n_events, p=popularity / popularity.sum())
    items = rng.permutation(n_items)[items]  # hot items spread over the rows
    matrix = sp.csr_matrix(
        (np.ones(n_events, dtype=np.float32), (users, items)),
        shape=(n_users, n_items),
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    return matrix


def real_titles(path: str, n: int) -> list[str]:
    """The first ``n`` titles of a dataset's ``items.jsonl.gz`` (for encoding throughput)."""
    import gzip
    import json

    titles: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            title = json.loads(line).get("title") or ""
            if title.strip():
                titles.append(title)
            if len(titles) >= n:
                break
    return titles
