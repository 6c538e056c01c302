"""The ranking loss: masked in-batch candidates, the catalog bank, the symmetric term and the
popularity (logQ) correction."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from shoplm.finetune.data import Anchor, TrainingData, TrainingPair
from shoplm.finetune.loss import (
    bank_mask,
    candidate_mask,
    positive_log_frequency,
    ranking_loss,
    reverse_mask,
)
from shoplm.finetune.steps import batch_loss
from shoplm.finetune.train import FinetuneConfig, train_encoder


def _unit(rows: list[list[float]]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


def _two_pairs() -> tuple[TrainingData, list[TrainingPair], Callable[[list[str]], torch.Tensor]]:
    """Anchors a -> x and b -> y, with fixed 2-d vectors standing in for the encoder."""
    vectors = {"a": [1.0, 0.0], "b": [0.0, 1.0], "x": [0.8, 0.6], "y": [0.0, 1.0]}
    data = TrainingData("recommend", {k: k for k in vectors}, [], [], [])
    batch = [
        TrainingPair(Anchor(item_ids=["a"], weights=[1.0]), "x", exclude=["a", "x"]),
        TrainingPair(Anchor(item_ids=["b"], weights=[1.0]), "y", exclude=["b", "y"]),
    ]

    def embed(texts: list[str]) -> torch.Tensor:
        return _unit([vectors[t] for t in texts])

    return data, batch, embed


def test_bank_mask_bans_batch_candidates_and_each_anchors_excludes() -> None:
    allowed = bank_mask(["a", "b", "c", "d"], candidates=["a", "x"], exclude=[["c"], []])
    assert allowed.tolist() == [[False, True, False, True], [False, True, True, True]]


def test_bank_negatives_enter_the_softmax() -> None:
    anchors = _unit([[1.0, 0.0]])
    candidates = _unit([[1.0, 0.0]])
    allowed = torch.ones((1, 1), dtype=torch.bool)
    alone = ranking_loss(anchors, candidates, allowed, scale=1.0)
    assert float(alone) == 0.0  # one candidate: nothing to confuse it with
    bank = _unit([[1.0, 0.0], [0.0, 1.0]])  # one allowed bank row, orthogonal
    with_bank = ranking_loss(anchors, candidates, allowed, 1.0, bank, torch.tensor([[False, True]]))
    assert math.isclose(float(with_bank), math.log(1 + math.exp(-1.0)), rel_tol=1e-6)


def test_candidate_mask_keeps_known_positives_out_of_the_negatives() -> None:
    candidates, allowed = candidate_mask(["a", "b"], [["c"], ["a"]], [["b"], []])
    assert candidates == ["a", "b", "c", "a"]
    # anchor 0 may not use b (excluded) nor the second "a" (its own positive)
    assert allowed.tolist() == [[True, False, True, False], [True, True, True, True]]


def test_a_run_with_the_bank_trains_and_validates(
    tmp_path: Path,
    tiny_config: FinetuneConfig,
    tiny_data_factory: Callable[[], TrainingData],
) -> None:
    config = tiny_config.model_copy(update={"bank_every": 2, "lora_layers": 2})
    result = train_encoder(tiny_data_factory(), config, tmp_path / "run", show_progress=False)
    assert result["finished"] and result["steps"] == 4
    assert result["config"]["bank_every"] == 2
    assert len(result["metrics"]["history"]) >= 2  # the base and the end of the epoch


def test_reverse_mask_spares_anchors_that_are_no_wrong_answer() -> None:
    keys = [frozenset({"a"}), frozenset({"b"}), frozenset({"a"}), frozenset({"c"})]
    positives = ["x", "y", "z", "x"]
    exclude = [["a", "x"], ["b", "y", "c"], ["a", "z"], ["c", "x"]]
    allowed = reverse_mask(keys, positives, exclude)
    assert allowed.tolist() == [
        [True, True, False, False],  # anchor 2 is anchor 0's item; anchor 3 also leads to x
        [True, True, True, False],  # user 1 bought c, anchor 3's item
        [False, True, True, True],  # the same anchor a
        [False, True, True, True],  # anchor 0 also leads to x
    ]


def test_the_symmetric_loss_adds_each_positive_ranking_its_anchor() -> None:
    data, batch, embed = _two_pairs()
    one_way = FinetuneConfig(scale=1.0)
    both_ways = one_way.model_copy(update={"symmetric": True})
    forward = float(batch_loss(embed, data, batch, one_way))
    symmetric = float(batch_loss(embed, data, batch, both_ways))
    anchors, positives = _unit([[1.0, 0.0], [0.0, 1.0]]), _unit([[0.8, 0.6], [0.0, 1.0]])
    everything = torch.ones((2, 2), dtype=torch.bool)
    assert math.isclose(forward, float(ranking_loss(anchors, positives, everything, 1.0)))
    backward = float(ranking_loss(positives, anchors, everything, 1.0))
    assert math.isclose(symmetric, (forward + backward) / 2, rel_tol=1e-6)
    assert backward != forward  # the second term is a different exam, not a copy


def test_a_symmetric_run_trains_and_records_the_setting(
    tmp_path: Path,
    tiny_config: FinetuneConfig,
    tiny_data_factory: Callable[[], TrainingData],
) -> None:
    config = tiny_config.model_copy(update={"symmetric": True})
    result = train_encoder(tiny_data_factory(), config, tmp_path / "run", show_progress=False)
    assert result["finished"] and result["steps"] == 4 and result["config"]["symmetric"]
    assert len(result["metrics"]["history"]) >= 2  # the base and the end of the epoch


def test_positive_log_frequency_is_each_items_log_share_of_the_pairs() -> None:
    log_q = positive_log_frequency(["x", "x", "x", "y"])
    assert math.isclose(log_q["x"], math.log(0.75)) and math.isclose(log_q["y"], math.log(0.25))
    with_catalog = positive_log_frequency(["x", "x", "x", "y"], ["x", "y", "z"])
    assert with_catalog["z"] == log_q["y"]  # never a positive: the rarest positive's rate
    assert {k: with_catalog[k] for k in log_q} == log_q


def test_the_popularity_correction_lowers_each_candidates_logit_by_its_log_rate() -> None:
    anchors = _unit([[1.0, 0.0], [0.0, 1.0]])
    candidates = _unit([[1.0, 0.0], [0.6, 0.8]])
    allowed = torch.ones((2, 2), dtype=torch.bool)
    log_q = torch.tensor([math.log(0.9), math.log(0.1)])
    corrected = float(ranking_loss(anchors, candidates, allowed, 2.0, log_q=log_q))
    scores = anchors @ candidates.T * 2.0 - log_q
    expected = torch.nn.functional.cross_entropy(scores, torch.arange(2))
    assert math.isclose(corrected, float(expected), rel_tol=1e-6)
    # an anchor whose answer is the rare item: the correction raises it against the popular one
    one, rare_first = _unit([[0.0, 1.0]]), _unit([[0.6, 0.8], [1.0, 0.0]])
    both = torch.ones((1, 2), dtype=torch.bool)
    plain = float(ranking_loss(one, rare_first, both, 2.0))
    assert float(ranking_loss(one, rare_first, both, 2.0, log_q=log_q.flip(0))) < plain


def test_batch_loss_corrects_by_how_often_each_candidate_is_a_positive() -> None:
    data, batch, embed = _two_pairs()
    config = FinetuneConfig(scale=1.0)
    log_q = {"x": math.log(0.8), "y": math.log(0.2)}
    corrected = float(batch_loss(embed, data, batch, config, log_q=log_q))
    anchors, positives = _unit([[1.0, 0.0], [0.0, 1.0]]), _unit([[0.8, 0.6], [0.0, 1.0]])
    everything = torch.ones((2, 2), dtype=torch.bool)
    rates = torch.tensor([log_q["x"], log_q["y"]])
    expected = ranking_loss(anchors, positives, everything, 1.0, log_q=rates)
    assert math.isclose(corrected, float(expected), rel_tol=1e-6)
    assert not math.isclose(corrected, float(batch_loss(embed, data, batch, config)))


def test_a_popularity_corrected_run_trains_and_records_the_setting(
    tmp_path: Path,
    tiny_config: FinetuneConfig,
    tiny_data_factory: Callable[[], TrainingData],
) -> None:
    config = tiny_config.model_copy(update={"popularity_correction": True})
    result = train_encoder(tiny_data_factory(), config, tmp_path / "run", show_progress=False)
    assert result["finished"] and result["steps"] == 4
    assert result["config"]["popularity_correction"]
