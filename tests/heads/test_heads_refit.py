"""A refitted head: trained again on training + validation rows for as long as validation chose."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from shoplm.finetune.steps import matching_step
from shoplm.heads import Examples, HeadConfig, TaskHead, TaskSpec
from shoplm.heads.ensemble import HeadEnsemble
from shoplm.heads.train import batches_per_epoch

SPEC = TaskSpec("sentiment", "classification", ("negative", "neutral", "positive"))


def _adapter(head: TaskHead) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in head.net.named_parameters() if "lora_" in n}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _refit_steps(best_step: int, train_rows: int, all_rows: int) -> int:
    """The refit length the head computes, at these tests' batch size of 8."""
    per_epoch = batches_per_epoch(train_rows, 8)
    return matching_step(best_step, per_epoch, batches_per_epoch(all_rows, 8))


def test_refit_steps_cover_as_many_epochs_over_all_rows() -> None:
    assert batches_per_epoch(48, 8) == 6 and batches_per_epoch(63, 8) == 8  # the short one too
    assert _refit_steps(6, 48, 63) == 8  # one epoch of 48 rows -> one epoch of 63
    assert _refit_steps(12, 48, 63) == 16
    assert _refit_steps(3, 48, 63) == 4  # half an epoch stays half an epoch


@pytest.mark.parametrize("layers", [None, 1])  # every block; the top one over cached states
def test_a_refitted_head_trains_on_both_parts_and_keeps_validations_offsets(
    tiny_lora: HeadConfig, toy_train: Examples, toy_valid: Examples, layers: int | None
) -> None:
    config = replace(tiny_lora, epochs=2, lora=replace(tiny_lora.lora, layers=layers))
    validated = TaskHead.train(SPEC, toy_train, toy_valid, config)
    refitted = TaskHead.train(SPEC, toy_train, toy_valid, replace(config, refit=True))
    report = refitted.info["refit"]
    best = refitted.info["best_step"]
    assert best == validated.info["best_step"] and best > 0
    rows = len(toy_train) + len(toy_valid)
    assert report["rows"] == rows and report["matching_step"] == best
    assert report["steps"] == _refit_steps(best, len(toy_train), rows) > best
    assert report["seconds"] > 0
    # validation chose the step and the class offsets; the refit keeps those offsets
    assert refitted.info["validation"] == validated.info["validation"]
    np.testing.assert_array_equal(refitted.calibration, validated.calibration)
    assert not _same(_adapter(refitted), _adapter(validated))
    assert refitted.validation_outputs is None  # it trained on those rows
    assert "refit" not in validated.info
    again = TaskHead.train(SPEC, toy_train, toy_valid, replace(config, refit=True))
    assert _same(_adapter(again), _adapter(refitted))  # seeded: it repeats exactly


def test_a_refitted_head_saves_and_loads(
    tiny_lora: HeadConfig, toy_train: Examples, toy_valid: Examples, tmp_path: Path
) -> None:
    head = TaskHead.train(SPEC, toy_train, toy_valid, replace(tiny_lora, refit=True))
    head.save(tmp_path / "head")
    loaded = TaskHead.load(tmp_path / "head")
    texts = ["great lovely dress", "awful broken size", "the fit is okay"]
    np.testing.assert_allclose(loaded.outputs(texts), head.outputs(texts), atol=1e-5)
    assert loaded.predict(texts) == head.predict(texts)
    manifest = json.loads((tmp_path / "head" / "manifest.json").read_text())
    assert manifest["config"]["refit"] is True
    assert manifest["training"]["refit"]["steps"] == head.info["refit"]["steps"]


def test_refit_with_a_moving_average_keeps_the_average(
    tiny_lora: HeadConfig, toy_train: Examples, toy_valid: Examples
) -> None:
    config = replace(tiny_lora, refit=True)
    plain = TaskHead.train(SPEC, toy_train, toy_valid, config)
    averaged = TaskHead.train(SPEC, toy_train, toy_valid, replace(config, ema_decay=0.9))
    assert averaged.info["refit"]["steps"] > 0
    assert not _same(_adapter(plain), _adapter(averaged))


def test_what_a_refit_cannot_follow(
    tiny_base: str, tiny_lora: HeadConfig, toy_train: Examples, toy_valid: Examples
) -> None:
    with pytest.raises(ValueError, match="LP-FT"):
        replace(tiny_lora, refit=True, init_head="probe")
    probe = HeadConfig(mode="probe", base_model=tiny_base, init_head="probe", refit=True)
    assert probe.refit  # probe mode ignores both
    head = TaskHead.train(SPEC, toy_train, toy_valid, replace(probe, probe_epochs=5))
    assert "refit" not in head.info and head.validation_outputs is not None
    with pytest.raises(ValueError, match="ensemble chooses its members"):
        HeadEnsemble.train(SPEC, toy_train, toy_valid, replace(tiny_lora, refit=True), 2)
