"""Query understanding from the catalog's own vocabulary: spelling, compounds, expansions.

Shoppers type fast: "toliet", "showerhead" for a title's "Shower Head", "deck over" for a
title's "DeckOver".  The catalog already knows its words and how often each occurs, so every
fix here is checked against that vocabulary instead of a dictionary of English:

- a query word the catalog never uses is split into two catalog words ("showerhead" ->
  "shower head") or else replaced by the most frequent catalog word within one or two edits
  (Damerau-Levenshtein, with rapidfuzz);
- two adjacent query words whose concatenation is a catalog word add that word ("deck over"
  -> also "deckover");
- learned expansions (query word -> words of the items shoppers chose for it, from click logs
  or judged queries, see :func:`learn_expansions`) add related catalog words;
- related terms from another source, such as the item graph (the brands and categories next
  to the items the query names, :func:`shoplm.graph.expand.expansion_terms`), add catalog
  words at ``RELATED_WEIGHT`` of their own weight.

Words with digits (sizes, model numbers) are never corrected: "2x4" is not a typo of "2x6".
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from shoplm.text.tokenize import tokenize

MIN_COUNT = 2  # a catalog word seen once may itself be a typo: never correct towards it
MIN_CORRECT_LENGTH = 4  # shorter words are abbreviations or units more often than typos
MIN_PART_LENGTH = 3  # each part of a split compound
MAX_EXPANSIONS_PER_TOKEN = 3
RARE_COMPOUND = 10  # a known compound this many times rarer than its parts adds the parts
MAX_RELATED = 5  # related terms (item graph) added per query
RELATED_WEIGHT = 0.5  # a related term counts half as much as its source's weight says

RelatedTerms = Callable[[Sequence[str]], Sequence[tuple[str, float]]]


@dataclass(frozen=True)
class AnalyzedQuery:
    """What the shopper typed and what the engine searches for."""

    text: str
    tokens: tuple[str, ...]  # tokens of the text as typed
    search_tokens: tuple[str, ...]  # after corrections, compound splits and joins
    corrections: dict[str, str] = field(default_factory=dict)  # typed token -> replacement
    expansions: dict[str, float] = field(default_factory=dict)  # added token -> weight
    related: tuple[str, ...] = ()  # the expansions that the related-terms source added

    @property
    def rewritten(self) -> str:
        """The corrected query as text (what a "did you mean" would show)."""
        out = []
        for token in self.tokens:
            out.append(self.corrections.get(token, token))
        return " ".join(out)

    @property
    def changed(self) -> bool:
        return bool(self.corrections or self.expansions)


class QueryAnalyzer:
    """Rewrites queries against a catalog vocabulary (token -> number of items using it).

    ``related`` maps the query's search tokens to (term, weight in 0..1) pairs from another
    source (the item graph); None switches that expansion off.
    """

    def __init__(
        self,
        vocabulary: Mapping[str, int],
        expansions: Mapping[str, Sequence[tuple[str, float]]] | None = None,
        min_count: int = MIN_COUNT,
        related: RelatedTerms | None = None,
    ) -> None:
        self.vocabulary = vocabulary
        self.min_count = min_count
        self.expansions = {k: list(v) for k, v in (expansions or {}).items()}
        self.related = related
        # Correction targets: frequent alphabetic words, bucketed by length so a lookup
        # compares a word only with words that could be within two edits of it.
        by_length: dict[int, list[str]] = defaultdict(list)
        for token, count in vocabulary.items():
            if count >= min_count and token.isalpha():
                by_length[len(token)].append(token)
        self._by_length = dict(by_length)
        self._fix = lru_cache(maxsize=50_000)(self._fix_uncached)

    def analyze(self, query: str) -> AnalyzedQuery:
        tokens = tuple(tokenize(query))
        corrections: dict[str, str] = {}
        search: list[str] = []
        for token in tokens:
            fixed = self._fix(token) if token not in self.vocabulary else None
            if fixed:
                corrections[token] = " ".join(fixed)
                search.extend(fixed)
            else:
                search.append(token)
        expansions: dict[str, float] = {}
        for token in search:
            # A rare spelling of a compound ("lawnmower") also looks for its common parts.
            count = self.vocabulary.get(token, 0)
            if count > 0 and token.isalpha() and len(token) >= 2 * MIN_PART_LENGTH:
                parts = self._split(token)
                if parts and min(self.vocabulary[p] for p in parts) >= RARE_COMPOUND * count:
                    for part in parts:
                        if part not in search:
                            expansions[part] = 1.0
        for left, right in itertools.pairwise(search):
            joined = left + right
            if joined not in search and self._known(joined):
                expansions[joined] = 1.0
        for token in dict.fromkeys(search):
            for extra, weight in self.expansions.get(token, [])[:MAX_EXPANSIONS_PER_TOKEN]:
                if extra not in search and self._known(extra):
                    expansions[extra] = max(expansions.get(extra, 0.0), weight)
        related: list[str] = []
        if self.related is not None and search:
            for extra, weight in self.related(tuple(search)):
                if len(related) >= MAX_RELATED:
                    break
                if extra in search or extra in expansions or not self._known(extra):
                    continue
                expansions[extra] = RELATED_WEIGHT * float(weight)
                related.append(extra)
        return AnalyzedQuery(
            text=query,
            tokens=tokens,
            search_tokens=tuple(search),
            corrections=corrections,
            expansions=expansions,
            related=tuple(related),
        )

    def _known(self, token: str) -> bool:
        return self.vocabulary.get(token, 0) >= self.min_count

    def _fix_uncached(self, token: str) -> tuple[str, ...] | None:
        """Replacement tokens for a word the catalog does not know, or None."""
        if len(token) < MIN_CORRECT_LENGTH or not token.isalpha():
            return None
        split = self._split(token)
        if split:
            return split
        return self._nearest(token)

    def _split(self, token: str) -> tuple[str, str] | None:
        best, best_count = None, 0
        for cut in range(MIN_PART_LENGTH, len(token) - MIN_PART_LENGTH + 1):
            left, right = token[:cut], token[cut:]
            count = min(self.vocabulary.get(left, 0), self.vocabulary.get(right, 0))
            if count >= self.min_count and count > best_count:
                best, best_count = (left, right), count
        return best

    def _nearest(self, token: str) -> tuple[str] | None:
        limit = 1 if len(token) <= 6 else 2
        best, best_key = None, None
        for length in range(len(token) - limit, len(token) + limit + 1):
            choices = self._by_length.get(length)
            if not choices:
                continue
            for candidate, distance, _ in process.extract(
                token, choices, scorer=OSA.distance, score_cutoff=limit, limit=None
            ):
                # Fewest edits first, then the same first letter (typos rarely hit it),
                # then the most common word.
                key = (distance, candidate[0] != token[0], -self.vocabulary[candidate])
                if best_key is None or key < best_key:
                    best, best_key = candidate, key
        return (best,) if best is not None else None


def learn_expansions(
    pairs: Iterable[tuple[str, Sequence[str]]],
    vocabulary: Mapping[str, int],
    n_items: int,
    min_support: int = 3,
    min_lift: float = 5.0,
    top: int = MAX_EXPANSIONS_PER_TOKEN,
) -> dict[str, list[tuple[str, float]]]:
    """Query word -> catalog words that the items chosen for it use far more than usual.

    ``pairs`` are (query, chosen item texts): a click log, or judged queries with their
    relevant items.  A word ``w`` expands query word ``q`` when at least ``min_support``
    choices for queries with ``q`` contain ``w`` and ``w`` is ``min_lift`` times more common
    in them than in the catalog at large.  The weight is the share of those choices holding
    ``w`` (0..1): "otr" -> "range", "microwave" once shoppers searching "otr" pick
    over-the-range microwaves.
    """
    together: dict[str, Counter[str]] = defaultdict(Counter)
    chosen: Counter[str] = Counter()
    for query, texts in pairs:
        query_tokens = set(tokenize(query))
        for text in texts:
            item_tokens = set(tokenize(text))
            for q in query_tokens:
                chosen[q] += 1
                together[q].update(item_tokens - query_tokens)
    out: dict[str, list[tuple[str, float]]] = {}
    for q, counts in together.items():
        ranked = []
        for word, support in counts.items():
            if support < min_support:
                continue
            share = support / chosen[q]
            background = max(vocabulary.get(word, 0), 1) / max(n_items, 1)
            if share / background >= min_lift:
                ranked.append((word, round(share, 4)))
        ranked.sort(key=lambda pair: (-pair[1], pair[0]))
        if ranked[:top]:
            out[q] = ranked[:top]
    return out


def idf(count: int, n_items: int) -> float:
    """BM25's idf of a token found in ``count`` of ``n_items`` items (0 when unknown)."""
    if count <= 0:
        return 0.0
    return math.log(1.0 + (n_items - count + 0.5) / (count + 0.5))
