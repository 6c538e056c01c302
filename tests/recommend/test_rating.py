"""Rating models on ratings drawn from known low-rank factors (and item text that implies them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from shoplm.recommend.rating import (
    RATING_MODELS,
    BiasBaseline,
    BiasedMF,
    GlobalMean,
    ItemVectors,
    TextMF,
    load_rating_model,
)


@dataclass
class LowRank:
    """Ratings ``3 + b_u + b_i + p_u . q_i + noise`` in [1, 5]; q_i is a linear map of text."""

    users: list[str]
    items: list[str]
    truth: np.ndarray  # [n_users, n_items], noise-free
    text: ItemVectors

    def pairs(self, rows: np.ndarray, cols: np.ndarray, noise: float, seed: int):
        rng = np.random.default_rng(seed)
        values = self.truth[rows, cols] + rng.normal(0, noise, len(rows))
        return (
            [self.users[r] for r in rows],
            [self.items[c] for c in cols],
            np.clip(np.round(values * 2) / 2, 1, 5),
        )


def low_rank(n_users: int = 80, n_items: int = 50, rank: int = 3, seed: int = 0) -> LowRank:
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(n_items, 12))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    item_map = rng.normal(0, 1.5, size=(12, rank + 1))
    item = text @ item_map  # column 0: item bias, the rest: factors
    user = rng.normal(0, 0.6, size=(n_users, rank))
    user_bias = rng.normal(0, 0.3, n_users)
    truth = np.clip(3 + user_bias[:, None] + item[None, :, 0] + user @ item[:, 1:].T, 1, 5)
    return LowRank(
        users=[f"u{i}" for i in range(n_users)],
        items=[f"m{i}" for i in range(n_items)],
        truth=truth,
        text=ItemVectors([f"m{i}" for i in range(n_items)], text),
    )


def split(data: LowRank, density: float = 0.5, seed: int = 1):
    """Observed entries split 80/20 into train and test."""
    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(rng.random(data.truth.shape) < density)
    order = rng.permutation(len(rows))
    cut = int(0.8 * len(rows))
    train, test = order[:cut], order[cut:]
    return (
        data.pairs(rows[train], cols[train], 0.1, seed),
        data.pairs(rows[test], cols[test], 0.0, seed),
    )


def rmse(model, triples) -> float:
    users, items, values = triples
    return float(np.sqrt(np.mean((model.predict(users, items) - values) ** 2)))


def test_mf_recovers_low_rank_ratings_better_than_biases():
    data = low_rank()
    train, test = split(data)
    bias = BiasBaseline().fit(*train)
    mf = BiasedMF(factors=3, reg=1.0, epochs=30).fit(*train)
    mean = GlobalMean().fit(*train)
    assert rmse(mf, test) < 0.6 * rmse(bias, test)
    assert rmse(bias, test) < rmse(mean, test)
    assert rmse(mf, test) < 0.5


def test_text_prior_predicts_rarely_rated_and_unrated_items():
    """Items m30.. have one training rating each, m45.. none; their text implies their factors."""
    data = low_rank()
    rng = np.random.default_rng(3)
    rows, cols = np.nonzero(rng.random(data.truth.shape) < 0.6)
    warm = cols < 30
    train_rows, train_cols = list(rows[warm]), list(cols[warm])
    for item in range(30, 45):  # one rating each
        train_rows.append(int(rng.integers(len(data.users))))
        train_cols.append(item)
    train = data.pairs(np.array(train_rows), np.array(train_cols), 0.1, 4)
    cold_rows, cold_cols = np.nonzero(np.ones_like(data.truth, dtype=bool))
    cold = cold_cols >= 30
    test = data.pairs(cold_rows[cold], cold_cols[cold], 0.0, 5)
    unrated = cold_cols[cold] >= 45

    params = {"factors": 3, "reg": 1.0, "epochs": 30}
    mf = BiasedMF(**params).fit(*train)
    text = TextMF(text_reg=0.01, **params).fit(*train, item_vectors=data.text)
    assert rmse(text, test) < 0.7 * rmse(mf, test)
    # Unrated items are known to the text model only, and it ranks them sensibly.
    assert "m49" in text.item_ids and "m49" not in mf.item_ids
    unrated_test = tuple(np.asarray(part)[unrated] for part in test)
    predicted = text.predict(*unrated_test[:2])
    assert np.corrcoef(predicted, unrated_test[2])[0, 1] > 0.6


def test_text_mf_without_vectors_is_plain_mf():
    train, test = split(low_rank())
    params = {"factors": 3, "reg": 2.0, "epochs": 5, "seed": 7}
    plain = BiasedMF(**params).fit(*train).predict(*test[:2])
    text = TextMF(**params).fit(*train).predict(*test[:2])
    np.testing.assert_allclose(plain, text)


def test_add_items_predicts_new_items_from_text():
    data = low_rank()
    train, _ = split(data)
    known = set(train[1])
    text = TextMF(factors=3, reg=1.0, epochs=10, text_reg=0.01).fit(*train)
    assert text.text_map.shape == (0, 4)  # fitted without vectors: no text map to use
    seen = ItemVectors(
        [i for i in data.text.item_ids if i in known],
        data.text.vectors[[i in known for i in data.text.item_ids]],
    )
    text = TextMF(factors=3, reg=1.0, epochs=10, text_reg=0.01).fit(*train, item_vectors=seen)
    fresh = ItemVectors(["new-1", "m0"], np.vstack([data.text.vectors[0], data.text.vectors[0]]))
    assert text.add_items(fresh) == ["new-1"]
    assert text.add_items(fresh) == []
    new_pred = text.predict(["u1"], ["new-1"])
    assert 1.0 <= new_pred[0] <= 5.0
    assert new_pred[0] != pytest.approx(text.mean)
    with pytest.raises(ValueError, match="dimensions"):
        text.add_items(ItemVectors(["x"], np.ones((1, 3))))


@pytest.mark.parametrize("name", sorted(RATING_MODELS))
def test_save_load_round_trip_is_identical(name, tmp_path):
    data = low_rank(n_users=30, n_items=20)
    train, test = split(data)
    cls = RATING_MODELS[name]
    model = cls().fit(*train, item_vectors=data.text)
    users = [*test[0], "stranger"]
    items = [*test[1], "m0"]
    before = model.predict(users, items)
    model.save(tmp_path / name)
    for loaded in (cls.load(tmp_path / name), load_rating_model(tmp_path / name)):
        assert type(loaded) is cls
        assert loaded.params == model.params
        np.testing.assert_array_equal(loaded.predict(users, items), before)
    assert not list(tmp_path.rglob("*.pkl"))


def test_load_refuses_another_model(tmp_path):
    train, _ = split(low_rank(n_users=10, n_items=8))
    GlobalMean().fit(*train).save(tmp_path)
    with pytest.raises(ValueError, match="global-mean"):
        BiasedMF.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="manifest"):
        load_rating_model(tmp_path / "nothing")


def test_rating_out_of_range_names_the_row():
    with pytest.raises(ValueError, match=r"rating #2 \(user 'c', item 'z'\) is 6.0, outside"):
        BiasBaseline().fit(["a", "b", "c"], ["x", "y", "z"], [4, 5, 6])
    with pytest.raises(ValueError, match="rating #0"):
        GlobalMean().fit(["a"], ["x"], [float("nan")])
    with pytest.raises(ValueError, match="outside the rating scale \\[0, 10\\]"):
        GlobalMean(scale=(0, 10)).fit(["a"], ["x"], [11])
    GlobalMean(scale=(0, 10)).fit(["a"], ["x"], [9])


def test_bad_shapes_and_arguments():
    with pytest.raises(ValueError, match="differ in length"):
        GlobalMean().fit(["a", "b"], ["x"], [3, 4])
    with pytest.raises(ValueError, match="no ratings"):
        GlobalMean().fit([], [], [])
    with pytest.raises(TypeError, match="one string"):
        GlobalMean().fit("ab", ["x", "y"], [3, 4])
    with pytest.raises(ValueError, match="low < high"):
        GlobalMean(scale=(5, 1))
    with pytest.raises(ValueError, match="reg"):
        BiasedMF(reg=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        BiasBaseline().predict(["a"], ["x"])
    model = GlobalMean().fit(["a"], ["x"], [3])
    with pytest.raises(ValueError, match="2 users but 1 items"):
        model.predict(["a", "a"], ["x"])


def test_unknown_ids_fall_back_or_raise_when_strict():
    users = ["a", "a", "b", "b", "c"]
    items = ["x", "y", "x", "y", "x"]
    ratings = [5, 3, 4, 2, 5]
    model = BiasBaseline(reg_user=1.0, reg_item=1.0).fit(users, items, ratings)
    item_x = model.item_bias[model.item_ids.index("x")]
    user_a = model.user_bias[model.user_ids.index("a")]
    np.testing.assert_allclose(
        model.predict(["stranger", "a", "stranger"], ["x", "unseen", "unseen"]),
        [model.mean + item_x, model.mean + user_a, model.mean],
    )
    with pytest.raises(KeyError, match=r"user 'stranger' \(position 1\)"):
        model.predict(["a", "stranger"], ["x", "x"], strict=True)
    with pytest.raises(KeyError, match="item 'unseen'"):
        model.predict(["a"], ["unseen"], strict=True)


def test_predictions_are_clipped_to_the_scale():
    users = ["a"] * 3 + ["b"] * 3
    items = ["x", "y", "z"] * 2
    ratings = [5, 5, 5, 1, 1, 5]
    model = BiasedMF(factors=2, reg=0.01, reg_bias=0.01, epochs=20).fit(users, items, ratings)
    raw = model._predict(np.array([0, 1]), np.array([0, 0]))
    predicted = model.predict(["a", "b"], ["x", "x"])
    assert predicted.min() >= 1 and predicted.max() <= 5
    np.testing.assert_allclose(predicted, np.clip(raw, 1, 5))


def test_same_seed_same_model_and_history_with_patience():
    train, test = split(low_rank(n_users=30, n_items=20))
    one = BiasedMF(factors=3, reg=1.0, epochs=8, seed=5).fit(*train, valid=test)
    two = BiasedMF(factors=3, reg=1.0, epochs=8, seed=5).fit(*train)
    np.testing.assert_array_equal(one.predict(*test[:2]), two.predict(*test[:2]))
    assert [h["epoch"] for h in one.history] == list(range(1, 9))
    assert two.history == []
    assert one.history[-1]["rmse"] == pytest.approx(rmse(one, test))
    # On pure noise a loosely regularised model soon gets worse on validation data and
    # stops `patience` epochs after its best one.
    rng = np.random.default_rng(0)
    noise = (train[0], train[1], rng.integers(1, 6, len(train[2])))
    valid = (test[0], test[1], rng.integers(1, 6, len(test[2])))
    quick = BiasedMF(factors=8, reg=0.01, epochs=40).fit(*noise, valid=valid, patience=2)
    best = min(range(len(quick.history)), key=lambda e: quick.history[e]["rmse"])
    assert len(quick.history) == best + 3 < 40


def test_item_vectors_are_checked():
    with pytest.raises(ValueError, match=r"\[2, dim\]"):
        ItemVectors(["a", "b"], np.ones((3, 4)))
    with pytest.raises(ValueError, match="twice"):
        ItemVectors(["a", "a"], np.ones((2, 4)))
    with pytest.raises(ValueError, match="'b' is not finite"):
        ItemVectors(["a", "b"], np.array([[1.0, 0.0], [np.inf, 0.0]]))
