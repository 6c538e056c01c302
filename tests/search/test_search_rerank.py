import numpy as np
import pytest

from shoplm.search.rerank import LinearRanker, QueryList, fit_ranker


def _lists(n_queries: int = 40, seed: int = 0) -> list[QueryList]:
    """Gain follows feature 0; feature 1 is noise; feature 2 is constant."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_queries):
        x = np.column_stack([rng.random(12), rng.random(12), np.ones(12)]).astype(np.float32)
        gains = np.where(x[:, 0] > 0.7, 2.0, np.where(x[:, 0] > 0.5, 1.0, 0.0))
        out.append(QueryList(x, gains))
    return out


def test_fit_learns_which_feature_orders_the_gains():
    ranker = fit_ranker(_lists(), ("signal", "noise", "constant"))
    assert ranker.weights[0] > 5 * abs(ranker.weights[1])
    assert ranker.info["n_queries"] == 40
    test = _lists(5, seed=1)[0]
    order = np.argsort(-ranker.score(test.features))
    assert test.gains[order[0]] == test.gains.max()


def test_round_trip_through_json(tmp_path):
    ranker = fit_ranker(_lists(), ("signal", "noise", "constant"))
    ranker.save(tmp_path / "r.json")
    loaded = LinearRanker.load(tmp_path / "r.json")
    x = _lists(1, seed=3)[0].features
    np.testing.assert_allclose(loaded.score(x), ranker.score(x), rtol=1e-6)
    assert loaded.with_features(("signal", "noise", "constant"))


def test_hand_set_weights_score_raw_features():
    ranker = LinearRanker.from_weights({"a": 2.0, "b": -1.0})
    np.testing.assert_allclose(ranker.score(np.array([[1.0, 1.0], [0.0, 1.0]])), [1.0, -1.0])
    assert ranker.raw_weights() == {"a": 2.0, "b": -1.0}
    scaled = LinearRanker(("a",), [3.0], [0.5], [2.0])
    assert scaled.raw_weights() == {"a": 1.5}


def test_errors_name_the_problem(tmp_path):
    ranker = LinearRanker.from_weights({"a": 1.0})
    with pytest.raises(ValueError, match=r"features must be \[n, 1\]"):
        ranker.score(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no training query has a positive gain"):
        fit_ranker([QueryList(np.zeros((3, 1)), np.zeros(3))], ("a",))
    with pytest.raises(ValueError, match="query list 0"):
        fit_ranker([QueryList(np.zeros((3, 2)), np.array([1.0, 0, 0]))], ("a",))
    (tmp_path / "bad.json").write_text('{"format": 1, "features": ["a"]}')
    with pytest.raises(ValueError, match=r"bad\.json"):
        LinearRanker.load(tmp_path / "bad.json")
