"""Head ensembles: member 0 is the single head, outputs are the members' mean, and the
ensemble saves and loads (tiny random BERT)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shoplm.heads import HeadEnsemble, HeadFormatError, TaskHead, TaskSpec
from shoplm.heads.scoring import task_metrics
from shoplm.heads.spec import encode_targets

SPEC = TaskSpec("sentiment", "classification", ("negative", "neutral", "positive"))


@pytest.fixture
def pair(tiny_lora, toy_train, toy_valid) -> HeadEnsemble:
    return HeadEnsemble.train(SPEC, toy_train, toy_valid, tiny_lora, members=2)


def test_member_0_is_the_single_head_and_outputs_are_the_mean(
    pair: HeadEnsemble, tiny_lora, toy_train, toy_valid
) -> None:
    single = TaskHead.train(SPEC, toy_train, toy_valid, tiny_lora)
    texts = toy_valid.texts
    np.testing.assert_array_equal(pair.members[0].outputs(texts), single.outputs(texts))
    assert [m.config.seed for m in pair.members] == [42, 43] and pair.info["seeds"] == [42, 43]
    first, second = pair.members[0].outputs(texts), pair.members[1].outputs(texts)
    assert not np.allclose(first, second)  # another seed, another head
    np.testing.assert_allclose(pair.outputs(texts), (first + second) / 2, rtol=1e-6)
    assert pair.trainable_parameters == 2 * single.trainable_parameters
    assert len(pair.predict(texts)) == len(texts)
    np.testing.assert_allclose(pair.predict_proba(texts).sum(axis=1), 1.0, rtol=1e-6)


def test_evaluate_members_scores_the_mean_and_each_member_alone(
    pair: HeadEnsemble, toy_valid
) -> None:
    together, alone = pair.evaluate_members(toy_valid)
    truth = encode_targets(SPEC, toy_valid.targets)
    expected = task_metrics(SPEC, pair.outputs(toy_valid.texts), truth, pair.calibration)
    assert together == pytest.approx(expected)
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


def test_a_member_that_learnt_nothing_is_left_out(
    monkeypatch: pytest.MonkeyPatch, tiny_lora, toy_train, toy_valid
) -> None:
    real_train = TaskHead.train.__func__

    def second_collapses(cls, *args, **kwargs):
        head = real_train(cls, *args, **kwargs)
        if head.config.seed == 43:
            head.info["beats_constant"] = False  # as a majority-class head would report
        return head

    monkeypatch.setattr(TaskHead, "train", classmethod(second_collapses))
    pair = HeadEnsemble.train(SPEC, toy_train, toy_valid, tiny_lora, members=2)
    assert [m.config.seed for m in pair.members] == [42]
    assert pair.info["left_out_seeds"] == [43] and pair.info["seeds"] == [42]
    texts = toy_valid.texts
    np.testing.assert_array_equal(pair.outputs(texts), pair.members[0].outputs(texts))
