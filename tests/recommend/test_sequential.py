"""SASRec and SASRec-text on a tiny catalog whose sequences follow a strict order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, UserBatch
from shoplm.recommend.registry import load_model
from shoplm.recommend.sequential import SASRec, SASRecText, _split_histories
from shoplm.schema import Item

N_ITEMS = 8
# Small and quick: full softmax, no dropout, a fixed number of epochs.
TINY = {
    "dim": 16,
    "layers": 1,
    "heads": 2,
    "max_len": 6,
    "dropout": 0.0,
    "lr": 0.01,
    "negatives": 0,
    "batch_size": 64,
    "max_epochs": 40,
    "patience": 40,
    "time_budget_s": None,
    "threads": 1,
}


def cyclic_histories(n_users: int = 48, length: int = 5) -> list[np.ndarray]:
    """Every user walks the catalog in order: item i is always followed by item i + 1."""
    return [
        np.array([(u + k) % N_ITEMS for k in range(length)], dtype=np.int64) for u in range(n_users)
    ]


def items() -> list[Item]:
    """Even items are brand A, odd ones brand B."""
    return [
        Item(item_id=f"i{i}", title=f"thing {i}", brand="A" if i % 2 == 0 else "B")
        for i in range(N_ITEMS)
    ]


def one(history: list[int]) -> UserBatch:
    return UserBatch(np.array([-1]), [np.array(history, dtype=np.int64)])


@pytest.fixture(scope="module")
def data(interactions_from_histories: Callable[..., Interactions]) -> Interactions:
    return interactions_from_histories(cyclic_histories(), N_ITEMS)


@pytest.fixture(scope="module")
def fitted(data: Interactions) -> SASRec:
    model = SASRec(**TINY)
    model.fit(data, FitContext(seed=3))
    return model


def test_learns_what_comes_next(fitted: SASRec) -> None:
    for start in range(N_ITEMS):
        history = [start, (start + 1) % N_ITEMS]
        scores = fitted.score(one(history))[0]
        scores[history] = -np.inf
        assert int(np.argmax(scores)) == (start + 2) % N_ITEMS


def test_score_shape_and_empty_history(fitted: SASRec, data: Interactions) -> None:
    batch = UserBatch.for_training_users(data, np.arange(5))
    scores = fitted.score(batch)
    assert scores.shape == (5, N_ITEMS) and scores.dtype == np.float32
    assert not fitted.score(one([])).any()
    # Items added after the fit (rows past n_items) are ignored, not an error.
    assert np.allclose(fitted.score(one([1, 2, N_ITEMS + 3])), fitted.score(one([1, 2])))
    with pytest.raises(ValueError, match=r"histories\[0\] holds a negative"):
        fitted.score(one([-2]))


def test_same_seed_same_model(data: Interactions, fitted: SASRec) -> None:
    again = SASRec(**TINY)
    again.fit(data, FitContext(seed=3))
    batch = UserBatch.for_training_users(data, np.arange(data.n_users))
    assert np.array_equal(again.score(batch), fitted.score(batch))


def test_early_stopping_is_recorded(fitted: SASRec) -> None:
    assert len(fitted.history) == TINY["max_epochs"]
    assert all(0.0 <= h["valid_ndcg@10"] <= 1.0 for h in fitted.history)
    assert fitted.history[-1]["valid_ndcg@10"] > 0.9  # the held-out next item is found


def test_save_and_load_round_trip(fitted: SASRec, data: Interactions, tmp_path: Path) -> None:
    fitted.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, SASRec) and loaded.params == fitted.params
    batch = UserBatch.for_training_users(data, np.arange(data.n_users))
    assert np.allclose(loaded.score(batch), fitted.score(batch))


def test_training_never_sees_the_newest_item() -> None:
    histories = [np.array([1, 2, 3, 4]), np.array([5, 6]), np.array([7])]
    train, valid = _split_histories(histories, max_len=2)
    assert [t.tolist() for t in train] == [[1, 2, 3]]  # newest max_len + 1, last item dropped
    assert [v.tolist() for v in valid] == [[2, 3, 4], [5, 6]]


def test_text_variant_uses_content_and_chooses_weights(data: Interactions) -> None:
    rng = np.random.default_rng(0)
    text = rng.normal(size=(N_ITEMS, 12)).astype(np.float32)
    model = SASRecText(**TINY)
    assert model.params["use_text"] and model.params["use_tokens"]
    model.fit(data, FitContext(items=items(), item_embeddings=text, seed=3))
    assert model.item_content.shape[0] == N_ITEMS and model.item_content.shape[1] > 12
    assert model.content_weight in (0.0, 0.25, 0.5, 1.0, 2.0)
    assert model.rare_content_weight in (0.0, 0.5, 1.0, 2.0, 4.0)
    assert model.token_weight in (0.5, 2.0)
    assert model.report["content_weight"] == model.content_weight
    assert model.report["epochs"] == TINY["max_epochs"]
    scores = model.score(one([0, 1]))[0]
    scores[[0, 1]] = -np.inf
    assert int(np.argmax(scores)) == 2


def test_text_variant_reads_the_base_encoders_vectors_unless_told_otherwise(
    data: Interactions,
) -> None:
    """On a home whose encoder is fine-tuned, the fit offers the base's vectors as well:
    sasrec-text reads those by default, the tuned ones with ``text_vectors="home"``."""
    rng = np.random.default_rng(1)
    tuned, base = rng.normal(size=(2, N_ITEMS, 12)).astype(np.float32)
    asked: list[int] = []

    def base_vectors() -> np.ndarray:
        asked.append(1)
        return base

    context = FitContext(items=items(), item_embeddings=tuned, seed=3, base_vectors=base_vectors)
    quick = {**TINY, "max_epochs": 2, "token_weight": 0.5}
    on_base = SASRecText(**quick)
    on_base.fit(data, context)
    alone = SASRecText(**quick)
    alone.fit(data, FitContext(items=items(), item_embeddings=base, seed=3))
    assert on_base.report["text_vectors"] == "base" and asked == [1]
    np.testing.assert_array_equal(on_base.item_content, alone.item_content)
    on_home = SASRecText(**quick, text_vectors="home")
    on_home.fit(data, context)
    plain = SASRecText(**quick)  # no base on offer: the home's encoder is its own base
    plain.fit(data, FitContext(items=items(), item_embeddings=tuned, seed=3))
    assert on_home.report["text_vectors"] == plain.report["text_vectors"] == "home"
    np.testing.assert_array_equal(on_home.item_content, plain.item_content)
    assert not np.array_equal(on_home.item_content, on_base.item_content)
    assert asked == [1]  # the home's vectors never call for the base's
    with pytest.raises(ValueError, match="text_vectors must be one of"):
        SASRecText(text_vectors="tuned")
    with pytest.raises(ValueError, match="text_vectors must be one of"):
        context.text_vectors("tuned")


def test_text_variant_scores_a_new_looking_history_from_content(data: Interactions) -> None:
    """With the sequence part switched off, brand decides: brand-A history -> brand-A items."""
    model = SASRecText(
        **{**TINY, "max_epochs": 2}, use_text=False, content_weight=1e6, token_weight=2.0
    )
    model.fit(data, FitContext(items=items(), seed=3))
    scores = model.score(one([0]))[0]
    assert scores[[2, 4, 6]].min() > scores[[1, 3, 5, 7]].max()


def test_bad_inputs_are_named(data: Interactions) -> None:
    with pytest.raises(ValueError, match="multiple of heads"):
        SASRec(dim=10, heads=3)
    with pytest.raises(ValueError, match="dropout"):
        SASRec(dropout=1.0)
    with pytest.raises(ValueError, match="at least one of"):
        SASRec(use_ids=False)
    with pytest.raises(ValueError, match="item_embeddings is None"):
        SASRecText(**TINY).fit(data, FitContext(items=items()))
    with pytest.raises(ValueError, match="rows but the interactions"):
        SASRecText(**TINY).fit(
            data, FitContext(items=items(), item_embeddings=np.ones((3, 4), np.float32))
        )


def test_one_item_histories_leave_the_model_usable() -> None:
    short = Interactions(
        item_ids=["a", "b"],
        user_ids=["u"],
        matrix=sp.csr_matrix(np.array([[1.0, 0.0]], dtype=np.float32)),
        histories=[np.array([0])],
        last_timestamps=np.full(2, np.nan),
    )
    model = SASRec(**TINY)
    model.fit(short, FitContext())
    assert model.score(one([0])).shape == (1, 2)


def test_item_tower_can_leave_out_the_id_part_of_chosen_rows() -> None:
    import torch

    from shoplm.recommend.sequential import _ItemTower

    text = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    tower = _ItemTower(4, 8, use_ids=True, text=text, tokens=None).eval()
    rare = torch.tensor([False, True, False, True])
    with torch.no_grad():
        full, partial = tower(), tower(rare)
        text_only = tower.text_proj(tower.text)
    assert torch.allclose(partial[[1, 3]], text_only[[1, 3]])
    assert torch.allclose(partial[[0, 2]], full[[0, 2]])
    assert not torch.allclose(full[[1, 3]], text_only[[1, 3]])


def test_validation_chooses_whether_rare_items_keep_their_id_vectors(
    interactions_from_histories: Callable[..., Interactions],
) -> None:
    """Two items taken by one user each are rare: the text-only table is an option."""
    rare_histories = [np.array([0, 1, N_ITEMS + k], dtype=np.int64) for k in range(2)]
    n_items = N_ITEMS + 2
    data = interactions_from_histories([*cyclic_histories(), *rare_histories], n_items)
    catalog = [*items(), *(Item(item_id=f"i{i}", title=f"rare {i}") for i in (8, 9))]
    text = np.random.default_rng(0).normal(size=(n_items, 12)).astype(np.float32)
    model = SASRecText(**{**TINY, "max_epochs": 3})
    model.fit(data, FitContext(items=catalog, item_embeddings=text, seed=3))
    assert model.rare_items[[8, 9]].all() and not model.rare_items[:N_ITEMS].any()
    tried = {option["rare_item_vectors"] for option in model.report["valid_options"]}
    assert tried == {"ids", "rare-text-only"}
    chosen = model.report["rare_item_vectors"]
    best = max(
        (o for o in model.report["valid_options"] if o["rare_item_vectors"] == chosen),
        key=lambda o: o["ndcg@10"],
    )
    assert best["ndcg@10"] >= model.report["valid_ndcg@10_with_content"] - 1e-9
