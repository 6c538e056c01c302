"""A refit trains again on every pair for as long as validation chose, and resumes exactly."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from shoplm.finetune import refit as refit_module
from shoplm.finetune import train as train_module
from shoplm.finetune.data import TrainingData
from shoplm.finetune.model import ADAPTER_WEIGHTS
from shoplm.finetune.refit import CHECKPOINT, describe_refit, refit_steps
from shoplm.finetune.steps import Stepper
from shoplm.finetune.train import FinetuneConfig, train_encoder


@pytest.fixture(scope="module")
def validated_run(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_config: FinetuneConfig,
    tiny_data_factory: Callable[[], TrainingData],
) -> tuple[Path, dict[str, Any]]:
    """The tiny run without a refit: 12 pairs, 4 steps, the last weights kept."""
    out = tmp_path_factory.mktemp("validated") / "run"
    return out, train_encoder(tiny_data_factory(), tiny_config, out, show_progress=False)


@pytest.fixture(scope="module")
def refit_run(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_config: FinetuneConfig,
    tiny_data_factory: Callable[[], TrainingData],
) -> tuple[Path, dict[str, Any]]:
    """The same run with a refit, from scratch."""
    out = tmp_path_factory.mktemp("refit") / "run"
    config = tiny_config.model_copy(update={"refit": True})
    return out, train_encoder(tiny_data_factory(), config, out, show_progress=False)


def _adapter(run: tuple[Path, dict[str, Any]]) -> dict[str, torch.Tensor]:
    return load_file(run[0] / "adapter" / ADAPTER_WEIGHTS)


def _assert_same_adapter(run: tuple[Path, dict[str, Any]], other: Path, result: dict) -> None:
    """The adapter ``result`` exported under ``other`` is ``run``'s, bit for bit."""
    exported = _adapter((other, result))
    for name, value in _adapter(run).items():
        torch.testing.assert_close(exported[name], value, rtol=0, atol=0)


def test_refit_steps_match_the_epochs_validation_chose() -> None:
    # office: best step 1,200 of 602 steps an epoch; 43,448 pairs give 678 an epoch
    assert refit_steps(1200, 38_543, 43_448, 64) == 1351
    assert refit_steps(4, 12, 18, 3) == 6
    assert refit_steps(0, 12, 18, 3) == 0


def test_a_refit_trains_on_the_held_out_pairs_too(
    validated_run: tuple[Path, dict[str, Any]], refit_run: tuple[Path, dict[str, Any]]
) -> None:
    refit = refit_run[1]["metrics"]["refit"]
    # 6 users x 2 pairs; each user's newest item held out; 4 steps of 3 -> 6 steps of 3
    assert refit["pairs"] == 12 and refit["held_out_pairs"] == 6
    assert refit["chosen_step"] == 4 and refit["steps"] == 6
    assert refit_run[1]["steps"] == 4  # the validated run itself is unchanged
    assert refit_run[1]["metrics"]["history"] == validated_run[1]["metrics"]["history"]
    assert validated_run[1]["metrics"]["refit"] is None
    exported = _adapter(refit_run)
    checkpoint = load_file(refit_run[0] / CHECKPOINT / "trainable.safetensors")
    assert len(exported) == len(checkpoint)
    for name, value in exported.items():  # what is exported is the refit's last weights
        inner = name.removeprefix("base_model.model.").replace(".weight", ".default.weight")
        (trained,) = [t for n, t in checkpoint.items() if n.endswith(inner)]
        torch.testing.assert_close(value, trained)
    validated = _adapter(validated_run)
    assert any(not torch.equal(value, validated[name]) for name, value in exported.items())
    assert refit_run[1]["model_id"] != validated_run[1]["model_id"]


def test_a_finished_run_resumes_to_refit_and_gives_the_same_weights(
    tmp_path: Path,
    validated_run: tuple[Path, dict[str, Any]],
    refit_run: tuple[Path, dict[str, Any]],
    tiny_data: TrainingData,
    tiny_config: FinetuneConfig,
) -> None:
    out = tmp_path / "run"
    shutil.copytree(validated_run[0] / "checkpoint", out / "checkpoint")
    config = tiny_config.model_copy(update={"refit": True})
    result = train_encoder(tiny_data, config, out, show_progress=False)
    assert result["resumed_at"] == 4  # the validated run is not trained again
    assert result["metrics"]["refit"]["steps"] == 6
    _assert_same_adapter(refit_run, out, result)


def test_an_interrupted_refit_resumes_where_it_stopped(
    tmp_path: Path,
    refit_run: tuple[Path, dict[str, Any]],
    tiny_data_factory: Callable[[], TrainingData],
    tiny_config: FinetuneConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Interrupted(Stepper):
        """The refit's stepper, stopped (as by Ctrl-C) before its fourth step."""

        taken = 0

        def step(self, *args: Any) -> float:
            if Interrupted.taken == 3:
                raise KeyboardInterrupt
            Interrupted.taken += 1
            return super().step(*args)

    monkeypatch.setattr(refit_module, "Stepper", Interrupted)
    config = tiny_config.model_copy(update={"refit": True})
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_encoder(tiny_data_factory(), config, out, show_progress=False)
    monkeypatch.setattr(refit_module, "Stepper", Stepper)
    said: list[str] = []
    result = train_encoder(tiny_data_factory(), config, out, progress=said.append)
    assert "resuming the refit at step 3 of 6" in said
    assert result["metrics"]["refit"]["steps"] == 6
    _assert_same_adapter(refit_run, out, result)


def test_nothing_to_refit_exports_the_validated_weights(
    tmp_path: Path,
    validated_run: tuple[Path, dict[str, Any]],
    tiny_data_factory: Callable[[], TrainingData],
    tiny_config: FinetuneConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tiny_config.model_copy(update={"refit": True})
    data = tiny_data_factory()
    data.held_out = []
    result = train_encoder(data, config, tmp_path / "none", show_progress=False)
    assert result["metrics"]["refit"] == {
        "pairs": 12, "held_out_pairs": 0, "chosen_step": 4, "steps": 0,
    }  # fmt: skip
    _assert_same_adapter(validated_run, tmp_path / "none", result)

    # validation never beats the base: the best step is 0 and the base is exported
    scores = iter([0.5, 0.1, 0.1, 0.1, 0.1])
    monkeypatch.setattr(train_module, "_validate", lambda *args: next(scores))
    kept = config.model_copy(update={"keep_best": True})
    result = train_encoder(tiny_data_factory(), kept, tmp_path / "base", show_progress=False)
    assert result["metrics"]["refit"]["steps"] == 0
    assert result["metrics"]["refit"]["chosen_step"] == 0
    assert not (tmp_path / "base" / CHECKPOINT).exists()


def test_a_refit_has_no_validation_to_choose_strengths_on() -> None:
    with pytest.raises(ValueError, match="refit"):
        FinetuneConfig(refit=True, strengths=[0.5])


def test_describe_refit_says_what_it_did_or_why_not() -> None:
    done = {"pairs": 12, "held_out_pairs": 6, "chosen_step": 4, "steps": 6}
    assert describe_refit(done) == (
        "refit: 6 steps on 18 pairs (6 held out for validation), matching step 4"
    )
    assert describe_refit({**done, "held_out_pairs": 0, "steps": 0}) == (
        "refit: none (no held-out pairs)"
    )
    assert describe_refit({**done, "chosen_step": 0, "steps": 0}) == (
        "refit: none (validation kept the base)"
    )
