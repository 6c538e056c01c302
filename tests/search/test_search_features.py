import numpy as np

from shoplm.index.lexical import LexicalIndex
from shoplm.search.features import (
    RERANK_FEATURES,
    CandidateContext,
    _rank_feature,
    candidate_features,
)
from shoplm.search.query import QueryAnalyzer

TITLES = [
    "sheet metal hole saw",
    "galvanized metal sheet",
    "cordless drill",
    "metal roofing sheet panel",
]


def _features(query: str, **context) -> np.ndarray:
    index = LexicalIndex.build([{"title": t} for t in TITLES])
    analyzed = QueryAnalyzer(index.vocabulary()).analyze(query)
    rows = np.arange(len(TITLES))
    dense = np.array([0.5, 0.7, 0.1, 0.6], dtype=np.float32)
    return candidate_features(analyzed, rows, dense, CandidateContext(index, **context))


def column(x: np.ndarray, name: str) -> np.ndarray:
    return x[:, RERANK_FEATURES.index(name)]


def test_word_match_features():
    x = _features("metal sheet")
    assert x.shape == (4, len(RERANK_FEATURES)) and x.dtype == np.float32
    np.testing.assert_allclose(column(x, "all_words"), [1, 1, 0, 1])
    np.testing.assert_allclose(column(x, "coverage"), [1, 1, 0, 1])
    assert column(x, "bm25").max() == 1.0 and column(x, "bm25")[2] == 0
    np.testing.assert_allclose(column(x, "head_word"), [1, 1, 0, 1])
    # the phrase "metal sheet" is adjacent only in the galvanised sheet's title
    np.testing.assert_allclose(column(x, "phrase"), [0, 1, 0, 0])
    assert column(x, "title_partial")[1] == 1.0 > column(x, "title_partial")[2]


def test_dense_features_and_ranks():
    x = _features("metal sheet")
    np.testing.assert_allclose(column(x, "dense"), [0.5, 0.7, 0.1, 0.6])
    np.testing.assert_allclose(column(x, "dense_gap"), [-0.2, 0.0, -0.6, -0.1], atol=1e-6)
    assert column(x, "dense_rank").argmax() == 1


def test_unknown_words_shift_weight_to_meaning():
    x = _features("qwzx metal")
    np.testing.assert_allclose(column(x, "dense_x_unknown"), 0.5 * column(x, "dense"))


def test_missing_shop_data_gives_zero_columns_and_present_data_counts():
    plain = _features("metal")
    for name in ("category", "popularity", "price", "expansion"):
        assert not column(plain, name).any()
    rich = _features(
        "metal",
        popularity=np.array([1.0, 0.5, 0.0, 0.2], dtype=np.float32),
        log_prices=np.log1p(np.array([10.0, 20.0, np.nan, 40.0], dtype=np.float32)),
    )
    np.testing.assert_allclose(column(rich, "popularity"), [1.0, 0.5, 0.0, 0.2])
    price = column(rich, "price")
    assert price[2] == 0 and price[0] < price[1] < price[3]


def test_rank_feature_orders_by_score():
    np.testing.assert_allclose(_rank_feature(np.array([0.1, 0.9, 0.5])), [1 / 12, 1 / 10, 1 / 11])
