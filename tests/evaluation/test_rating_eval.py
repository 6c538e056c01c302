"""Rating evaluation: metrics by hand, the two splits, and a whole run on synthetic ratings."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from shoplm.datasets import RecDataset
from shoplm.evaluation.rating_eval import (
    evaluate_rating,
    mae,
    main,
    per_user_temporal_split,
    random_split,
    rmse,
)
from shoplm.recommend.rating import ItemVectors
from shoplm.schema import EventType, Item

SMALL_GRIDS = {
    "bias": {"reg_user": [1.0, 5.0], "reg_item": [1.0]},
    "mf": {"factors": [2], "reg": [1.0, 5.0]},
    "mf-text": {"factors": [2], "reg": [1.0], "text_reg": [0.1]},
}


def synthetic(
    n_users: int = 60, n_items: int = 25, seed: int = 0
) -> tuple[RecDataset, ItemVectors]:
    """Biases plus rank-2 ratings on a 1-5 half-star scale; each user rates 60% of items."""
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(n_items, 6)) / np.sqrt(6)
    item = text @ rng.normal(0, 1.0, (6, 3))  # column 0: item bias
    user = rng.normal(0, 0.8, (n_users, 2))
    user_bias = rng.normal(0, 0.4, n_users)
    items = [Item(item_id=f"m{i}", title=f"Movie {i}") for i in range(n_items)]
    sequences, values, times = {}, {}, {}
    for u in range(n_users):
        rated = rng.permutation(np.flatnonzero(rng.random(n_items) < 0.6))  # in time order
        truth = 3 + user_bias[u] + item[rated, 0] + item[rated, 1:] @ user[u]
        scores = np.clip(np.round(truth * 2) / 2, 1, 5)
        sequences[f"u{u}"] = [f"m{i}" for i in rated]
        values[f"u{u}"] = [float(s) for s in scores]
        times[f"u{u}"] = [1000.0 + u + 10 * k for k in range(len(rated))]
    dataset = RecDataset(
        name="synthetic",
        items=items,
        sequences=sequences,
        timestamps=times,
        values=values,
        has_real_time=True,
        protocol="temporal",
        event_type=EventType.RATING,
    )
    return dataset, ItemVectors([it.item_id for it in items], text)


def test_rmse_and_mae_by_hand():
    predicted = np.array([3.0, 4.0, 5.0, 2.5])
    actual = np.array([4.0, 4.0, 3.0, 2.0])
    # errors -1, 0, 2, 0.5: squares 1, 0, 4, 0.25
    assert rmse(predicted, actual) == pytest.approx(math.sqrt(5.25 / 4))
    assert mae(predicted, actual) == pytest.approx(3.5 / 4)
    with pytest.raises(ValueError, match="equal 1-D"):
        rmse(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="no ratings"):
        mae(np.ones(0), np.ones(0))


def test_random_split_is_seeded_disjoint_and_sized():
    rows = np.arange(100)
    kept, held = random_split(rows, 0.2, np.random.default_rng(1))
    again = random_split(rows, 0.2, np.random.default_rng(1))
    assert len(held) == 20 and len(kept) == 80
    assert set(kept).isdisjoint(held) and set(kept) | set(held) == set(rows)
    np.testing.assert_array_equal(held, again[1])


def test_per_user_temporal_split_holds_out_each_users_newest():
    users = np.array(["a"] * 5 + ["b"] * 2 + ["c"], dtype=object)
    times = np.array([5, 1, 4, 2, 3, 9, 8, 7], dtype=float)
    kept, held = per_user_temporal_split(np.arange(8), users, times, 0.4)
    # a: 5 ratings -> 2 newest (times 5 and 4); b: 2 -> 1 (time 9); c: 1 -> none
    assert held.tolist() == [0, 2, 5]
    assert kept.tolist() == [1, 3, 4, 6, 7]
    for user in "ab":
        mine = users == user
        assert times[held][users[held] == user].min() >= times[kept][users[kept] == user].max()
        assert mine.sum() == (users[held] == user).sum() + (users[kept] == user).sum()


@pytest.mark.parametrize("protocol", ["random", "temporal"])
def test_evaluation_tunes_on_validation_and_beats_the_baselines(protocol):
    dataset, vectors = synthetic()
    result = evaluate_rating(
        dataset,
        seed=3,
        protocol=protocol,
        grids=SMALL_GRIDS,
        item_vectors=vectors,
        few_ratings=(0, 10_000),
    )
    n = dataset.n_interactions()
    assert result["task"] == "rating" and result["split"] == protocol
    assert result["n_train"] + result["n_test"] == n
    assert result["n_fit"] + result["n_valid"] == result["n_train"]
    assert ("temporal" in result["protocol"]) == (protocol == "temporal")
    assert "never used" in result["protocol"]
    assert set(result["metrics"]) == {"global-mean", "bias", "mf", "mf-text"}
    scores = {m: s["rmse"] for m, s in result["metrics"].items()}
    assert scores["mf"] < scores["bias"] < scores["global-mean"]
    # The tuning trials are in the result, and the chosen point is the best trial's.
    trials = result["tuning"]["mf"]["trials"]
    assert len(trials) == 2
    chosen = result["model_params"]["mf"]
    assert chosen["reg"] == min(trials, key=lambda t: t["rmse"])["params"]["reg"]
    assert chosen["factors"] == 2
    assert "global-mean" not in result["tuning"]
    # Every item was rated in training here: the "unseen" slice is empty, the wide one is all.
    assert result["slices"]["item_train_ratings<=0"] == {"n_ratings": 0, "metrics": {}}
    wide = result["slices"]["item_train_ratings<=10000"]
    assert wide == {"n_ratings": result["n_test"], "metrics": result["metrics"]}
    json.dumps(result)  # the whole result is JSON-able


def test_evaluation_without_tuning_is_reproducible():
    dataset, _ = synthetic(seed=2)
    first = evaluate_rating(dataset, models=["bias", "mf"], tune=False, seed=5)
    second = evaluate_rating(dataset, models=["bias", "mf"], tune=False, seed=5)
    assert first["metrics"] == second["metrics"]
    assert first["tuning"] == {} and "no tuning" in first["protocol"]
    assert first["text"] is None  # no text model asked for, so nothing was encoded


def test_evaluation_rejects_bad_requests():
    dataset, _ = synthetic(n_users=5, n_items=5)
    with pytest.raises(ValueError, match="unknown rating model"):
        evaluate_rating(dataset, models=["svd++"])
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate_rating(dataset, protocol="leave_one_out")
    with pytest.raises(ValueError, match="test_fraction"):
        evaluate_rating(dataset, test_fraction=1.5)
    dataset.values = None
    with pytest.raises(ValueError, match="no rating values"):
        evaluate_rating(dataset)


def test_command_line_prints_json_for_a_dataset_folder(tmp_path, capsys):
    """A MovieLens-layout folder (plain CSV files) through ``python -m ...rating_eval``."""
    dataset, _ = synthetic(n_users=15, n_items=10, seed=4)
    with (tmp_path / "ratings.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "item_id", "rating", "timestamp"])
        for user, items in dataset.sequences.items():
            for item, value, time in zip(
                items, dataset.values[user], dataset.timestamps[user], strict=True
            ):
                writer.writerow([user, item, value, int(time)])
    with (tmp_path / "movies.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "title", "release_year", "genres"])
        for item in dataset.items:
            writer.writerow([item.item_id, item.title, "1995", "Comedy"])
    (tmp_path / "kg_triples.csv").write_text("head_entity,relation,tail_entity\n")
    (tmp_path / "item_entity_link.csv").write_text("item_id,entity_id\n")

    code = main(["--data", str(tmp_path), "--models", "global-mean,bias", "--json", "--no-tune"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dataset"] == "movielens_100k"
    assert set(result["metrics"]) == {"global-mean", "bias"}
    assert result["n_train"] + result["n_test"] == dataset.n_interactions()

    from typer.testing import CliRunner

    from shoplm.cli import app

    shown = CliRunner().invoke(
        app, ["evaluate", "rating", "--data", str(tmp_path), "--models", "bias", "--no-tune"]
    )
    assert shown.exit_code == 0, shown.output
    assert "rmse" in shown.output and "bias" in shown.output


def test_text_models_encode_the_items_when_no_vectors_are_given(monkeypatch):
    from shoplm.evaluation import rating_eval

    dataset, vectors = synthetic(n_users=20, n_items=10, seed=6)
    asked = []

    def fake_encode(data):
        asked.append([item.item_id for item in data.items])
        return vectors, {"encoder": "fake", "dim": 6, "cached": 0, "encoded": 10}

    monkeypatch.setattr(rating_eval, "_encode_items", fake_encode)
    result = evaluate_rating(dataset, models=["mf-text"], tune=False)
    assert asked == [[f"m{i}" for i in range(10)]]
    assert result["text"]["encoder"] == "fake"
    assert set(result["metrics"]) == {"mf-text"}
