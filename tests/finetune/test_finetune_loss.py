"""The ranking loss: masked in-batch candidates, and the catalog bank of fixed vectors."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from shoplm.finetune.data import TrainingData
from shoplm.finetune.loss import bank_mask, candidate_mask, ranking_loss
from shoplm.finetune.train import FinetuneConfig, train_encoder


def _unit(rows: list[list[float]]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


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
