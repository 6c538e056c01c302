"""Head ensembles: member 0 is the single head, outputs are the members' mean, and the
ensemble saves and loads (tiny random BERT)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from shoplm.heads import HeadEnsemble, HeadFormatError, TaskHead, TaskSpec
from shoplm.heads.ensemble import _choose_members
from shoplm.heads.scoring import task_metrics
from shoplm.heads.spec import encode_targets

SPEC = TaskSpec("sentiment", "classification", ("negative", "neutral", "positive"))


@pytest.fixture
def pair(tiny_lora, toy_train, toy_valid) -> HeadEnsemble:
    """Two heads of seeds 42 and 43, averaged."""
    heads = [
        TaskHead.train(SPEC, toy_train, toy_valid, replace(tiny_lora, seed=seed))
        for seed in (42, 43)
    ]
    return HeadEnsemble(heads, None)


def test_training_runs_every_seed_and_keeps_the_members_chosen_on_validation(
    tiny_lora, toy_train, toy_valid
) -> None:
    trained = HeadEnsemble.train(SPEC, toy_train, toy_valid, tiny_lora, members=2)
    assert sorted(trained.info["seeds"] + trained.info["left_out_seeds"]) == [42, 43]
    assert [m.config.seed for m in trained.members] == trained.info["seeds"]
    assert len(trained.info["member_training"]) == 2
    texts = toy_valid.texts
    for member in trained.members:  # each member is the head a single run of its seed gives
        single = TaskHead.train(
            SPEC, toy_train, toy_valid, replace(tiny_lora, seed=member.config.seed)
        )
        np.testing.assert_array_equal(member.outputs(texts), single.outputs(texts))
        # the member's validation outputs, kept from training, are what it outputs now
        np.testing.assert_allclose(
            member.validation_outputs, member.outputs(texts), rtol=1e-5, atol=1e-6
        )


def test_outputs_are_the_members_mean(pair: HeadEnsemble, toy_valid) -> None:
    texts = toy_valid.texts
    first, second = pair.members[0].outputs(texts), pair.members[1].outputs(texts)
    assert not np.allclose(first, second)  # another seed, another head
    np.testing.assert_allclose(pair.outputs(texts), (first + second) / 2, rtol=1e-6)
    assert pair.trainable_parameters == 2 * pair.members[0].trainable_parameters
    assert len(pair.predict(texts)) == len(texts)
    np.testing.assert_allclose(pair.predict_proba(texts).sum(axis=1), 1.0, rtol=1e-6)


def test_evaluate_members_gives_the_mean_and_each_member_alone(
    pair: HeadEnsemble, toy_valid
) -> None:
    mean, truth, alone = pair.evaluate_members(toy_valid)
    np.testing.assert_array_equal(truth, encode_targets(SPEC, toy_valid.targets))
    np.testing.assert_allclose(mean, pair.outputs(toy_valid.texts), rtol=1e-6)
    together = pair.scored(mean, truth).metrics
    assert together == pytest.approx(task_metrics(SPEC, mean, truth, pair.calibration))
    assert [a["macro_f1"] for a in alone] == pytest.approx(
        [m.evaluate(toy_valid)["macro_f1"] for m in pair.members]
    )
    assert pair.evaluate(toy_valid) == pytest.approx(together)


def test_an_ensemble_saves_and_loads(pair: HeadEnsemble, toy_valid, tmp_path: Path) -> None:
    folder = pair.save(tmp_path / "ensemble", metrics={"test": {"macro_f1": 0.5}})
    manifest = json.loads((folder / "ensemble.json").read_text())
    assert manifest["format"] == "shoplm-head-ensemble/1"
    assert manifest["members"] == ["member-0", "member-1"]
    again = HeadEnsemble.load(folder)
    np.testing.assert_allclose(
        again.outputs(toy_valid.texts), pair.outputs(toy_valid.texts), rtol=1e-5, atol=1e-6
    )
    assert again.predict(toy_valid.texts) == pair.predict(toy_valid.texts)
    assert again.info["metrics"] == {"test": {"macro_f1": 0.5}}
    with pytest.raises(HeadFormatError, match="not a saved head ensemble"):
        HeadEnsemble.load(folder / "member-0")  # one head's folder is not an ensemble


def test_the_word_classifier_is_fitted_once_and_blended_into_the_mean(
    tiny_lora, toy_train, toy_valid, tmp_path: Path
) -> None:
    config = replace(tiny_lora, lexical=True)
    trained = HeadEnsemble.train(SPEC, toy_train, toy_valid, config, members=2)
    assert trained.lexical is not None
    assert all(member.lexical is None for member in trained.members)  # no copy per member
    report = trained.info["lexical"]
    assert report["weight"] == trained.lexical.weight and len(report["weights_tried"]) == 11
    texts = toy_valid.texts
    network = trained.network_outputs(texts)
    np.testing.assert_allclose(
        network, np.mean([m.outputs(texts) for m in trained.members], axis=0), rtol=1e-6
    )
    blended = trained.outputs(texts)
    np.testing.assert_allclose(blended, trained.lexical.combine(network, texts), rtol=1e-6)
    # the weight chosen on validation is the best of those tried for the members' mean
    truth = encode_targets(SPEC, toy_valid.targets)
    best = max(report["weights_tried"].values())
    assert trained.scored(blended, truth).metrics["macro_f1"] == pytest.approx(best, abs=1e-4)

    folder = trained.save(tmp_path / "ensemble")
    assert json.loads((folder / "ensemble.json").read_text())["lexical"]["weight"] == (
        trained.lexical.weight
    )
    again = HeadEnsemble.load(folder)
    assert again.lexical is not None and again.lexical.weight == trained.lexical.weight
    np.testing.assert_allclose(again.predict_proba(texts), trained.predict_proba(texts), atol=1e-5)
    trained.lexical = None  # saved again without the words: their files go
    assert HeadEnsemble.load(trained.save(tmp_path / "ensemble")).lexical is None


def test_bad_member_counts_and_mixed_tasks_are_refused(pair: HeadEnsemble, toy_train) -> None:
    with pytest.raises(ValueError, match="members must be at least 1"):
        HeadEnsemble.train(SPEC, toy_train, toy_train, pair.config, members=0)
    with pytest.raises(ValueError, match="at least one member"):
        HeadEnsemble([], None)
    other = TaskHead(
        TaskSpec("mood", "classification", ("a", "b", "c")),
        pair.config,
        pair.members[1].base,
        pair.members[1].net,
    )
    with pytest.raises(ValueError, match="must share one task"):
        HeadEnsemble([pair.members[0], other], None)


def test_members_are_chosen_greedily_on_validation() -> None:
    y = np.array([0, 1, 2, 0, 1, 2, 2, 2])
    right = np.eye(3)[y] * 4.0  # every row right
    collapsed = np.tile([0.0, 0.0, 5.0], (len(y), 1))  # always the majority class
    half = right.copy()
    half[:3] = np.eye(3)[[1, 2, 0]] * 4.0  # the first three rows wrong
    chosen, _, metrics = _choose_members(SPEC, [collapsed, right], y, None, calibrated=False)
    assert chosen == [1] and metrics["macro_f1"] == 1.0  # the collapsed member is left out
    # a member that does not raise the mean's score is not added either
    chosen, _, _ = _choose_members(SPEC, [half, right, collapsed], y, None, calibrated=False)
    assert chosen == [1]
    # two members that each miss two rows by a small margin: their mean is right everywhere
    a, other = right.copy(), right.copy()
    a[:2] = np.eye(3)[[2, 0]] * 3.0 + np.eye(3)[y[:2]] * 2.0
    other[3:5] = np.eye(3)[[2, 0]] * 3.0 + np.eye(3)[y[3:5]] * 2.0
    chosen, _, metrics = _choose_members(SPEC, [a, other], y, None, calibrated=False)
    assert chosen == [0, 1] and metrics["macro_f1"] == 1.0
