"""The LoRA training step and loop (tiny random BERT): the moving average (validated and
kept while training follows the same path), label smoothing, R-Drop, layer-wise rates and
micro-batches (the whole batch's update in parts)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from shoplm.heads import Examples, HeadConfig, TaskHead, TaskSpec
from shoplm.heads import train as train_module
from shoplm.heads.averaging import WeightAverage

SPEC = TaskSpec("sentiment", "classification", ("negative", "neutral", "positive"))
BEST = train_module._Best  # the real classes, before any test patches them


def _trainable(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}


def _run(monkeypatch: pytest.MonkeyPatch, tiny_lora, train, valid, ema: float | None) -> dict:
    """Train once, recording what each validation offered, and (with the average) the raw
    and averaged weights at each validation."""
    seen: dict = {"offered": [], "raw": [], "average": []}

    class RecordingBest(BEST):
        def offer(self, score, trained):
            seen["offered"].append(_trainable(self.module))
            return super().offer(score, trained)

    class RecordingAverage(WeightAverage):
        def applied(self):
            seen["raw"].append([p.detach().clone() for p in self.params])
            seen["average"].append([s.clone() for s in self.shadow])
            return super().applied()

    monkeypatch.setattr(train_module, "_Best", RecordingBest)
    monkeypatch.setattr(train_module, "WeightAverage", RecordingAverage)
    config = replace(tiny_lora, epochs=3, evals_per_epoch=2, patience=10, ema_decay=ema)
    seen["head"] = TaskHead.train(SPEC, train, valid, config)
    return seen


def test_the_average_is_validated_and_kept_while_training_is_unchanged(
    monkeypatch: pytest.MonkeyPatch, tiny_lora, toy_train, toy_valid
) -> None:
    plain = _run(monkeypatch, tiny_lora, toy_train, toy_valid, None)
    averaged = _run(monkeypatch, tiny_lora, toy_train, toy_valid, 0.9)
    assert not plain["average"] and len(averaged["average"]) == len(plain["offered"]) == 6
    for check, plain_weights in enumerate(plain["offered"]):
        names = list(plain_weights)
        # the raw weights at each validation are those of the run without the average
        for name, raw in zip(names, averaged["raw"][check], strict=True):
            torch.testing.assert_close(raw, plain_weights[name], rtol=0, atol=0)
        # what was scored and offered is the average, not the raw weights
        offered = averaged["offered"][check]
        for name, mean in zip(names, averaged["average"][check], strict=True):
            torch.testing.assert_close(offered[name], mean, rtol=0, atol=0)
        assert any(not torch.equal(offered[n], plain_weights[n]) for n in names), (
            f"validation {check}: the average equals the raw weights"
        )
    # the head keeps the average from its best validation
    head = averaged["head"]
    best = [h["step"] for h in head.info["history"]].index(head.info["best_step"])
    kept = _trainable(head.net)
    for name, value in averaged["offered"][best].items():
        torch.testing.assert_close(kept[name], value, rtol=0, atol=0)
    assert head.config.ema_decay == 0.9
    # the validation outputs kept from training are the kept (averaged) weights' outputs
    np.testing.assert_allclose(
        head.validation_outputs, head.outputs(toy_valid.texts), rtol=1e-5, atol=1e-6
    )


def test_label_smoothing_spreads_the_target_over_every_label() -> None:
    spec = TaskSpec("mood", "classification", ("bad", "ok", "good"))
    sure = torch.tensor([[10.0, 0.0, 0.0]])  # confidently right
    target = torch.tensor([0])
    plain = train_module.loss_function(spec, None)(sure, target)
    smoothed = train_module.loss_function(spec, None, label_smoothing=0.3)(sure, target)
    assert plain.item() < 1e-3  # nothing left to learn on this row
    # 0.3 of the target is spread evenly: 0.1 on each wrong label, costing about 0.2 x 10
    assert smoothed.item() == pytest.approx(0.2 * 10.0, rel=0.01)
    # kinds without labels to spread over ignore it
    rating = TaskSpec("stars", "regression")
    assert isinstance(train_module.loss_function(rating, None, 0.3), torch.nn.MSELoss)


def test_dropout_disagreement_is_the_symmetric_kl_between_two_passes() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    assert train_module.dropout_disagreement(logits, logits.clone()).item() == pytest.approx(0.0)
    other = torch.tensor([[0.0, 2.0, -1.0], [0.5, 0.5, 0.0]])
    p, q = logits.softmax(-1), other.softmax(-1)
    by_hand = ((p * (p / q).log()).sum(-1) + (q * (q / p).log()).sum(-1)).mean() / 2
    assert train_module.dropout_disagreement(logits, other).item() == pytest.approx(by_hand.item())
    assert train_module.dropout_disagreement(other, logits).item() == pytest.approx(by_hand.item())


def test_rdrop_runs_every_batch_twice_and_adds_the_disagreement(
    monkeypatch: pytest.MonkeyPatch, tiny_lora, toy_train, toy_valid
) -> None:
    passes: list[tuple[torch.Tensor, torch.Tensor]] = []
    real = train_module.dropout_disagreement

    def recording(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        passes.append((first.detach().clone(), second.detach().clone()))
        return real(first, second)

    monkeypatch.setattr(train_module, "dropout_disagreement", recording)
    config = replace(tiny_lora, rdrop=1.0, head_dropout=0.5)
    head = TaskHead.train(SPEC, toy_train, toy_valid, config)
    steps = -(-len(toy_train.texts) // config.batch_size)
    assert len(passes) == steps  # one pair of passes per training batch
    for first, second in passes:
        assert first.shape == second.shape and first.shape[1] == 3
    # the same rows, two dropout draws: the passes differ
    assert any(not torch.equal(first, second) for first, second in passes)
    assert head.config.rdrop == 1.0
    # without it each batch runs once and the disagreement is never computed
    passes.clear()
    TaskHead.train(SPEC, toy_train, toy_valid, tiny_lora)
    assert passes == []


def test_layer_lr_decay_slows_each_block_below_the_top() -> None:
    def named(*names: str) -> list[tuple[str, torch.nn.Parameter]]:
        return [(name, torch.nn.Parameter(torch.zeros(1))) for name in names]

    params = named(
        "base_model.model.encoder.layer.0.attention.self.query.lora_A.default.weight",
        "base_model.model.encoder.layer.1.output.dense.lora_B.default.weight",
        "base_model.model.encoder.layer.2.intermediate.dense.lora_A.default.weight",
        "base_model.model.encoder.layer.2.output.dense.lora_A.default.weight",
        "base_model.model.embeddings.word_embeddings.weight",
    )
    groups = train_module.encoder_lr_groups(params, 1e-3, 0.5)
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    expected = [0.25e-3, 0.5e-3, 1e-3, 1e-3, 0.125e-3]  # the top block at the full rate
    assert [rate[id(p)] for _, p in params] == pytest.approx(expected)
    assert sum(len(g["params"]) for g in groups) == len(params)
    (alike,) = train_module.encoder_lr_groups(params, 1e-3, 1.0)
    assert alike["lr"] == 1e-3 and len(alike["params"]) == len(params)


def test_a_head_trains_with_layer_lr_decay(tiny_lora, toy_train, toy_valid) -> None:
    decayed = TaskHead.train(SPEC, toy_train, toy_valid, replace(tiny_lora, layer_lr_decay=0.5))
    plain = TaskHead.train(SPEC, toy_train, toy_valid, tiny_lora)
    assert decayed.config.layer_lr_decay == 0.5

    # the same seed and rows: only the lower block's rate differs, so its adapter moves less
    def lower_block_change(head: TaskHead) -> float:
        return sum(
            float(p.detach().abs().sum())
            for n, p in head.net.named_parameters()
            if ".layer.0." in n and "lora_B" in n
        )

    assert 0 < lower_block_change(decayed) < lower_block_change(plain)


@pytest.mark.parametrize(
    "settings",
    [{}, {"class_weights": "balanced", "label_smoothing": 0.1}, {"rdrop": 1.0}],
    ids=["plain", "class-weighted", "rdrop"],
)
def test_micro_batches_make_the_whole_batchs_update(
    monkeypatch: pytest.MonkeyPatch,
    tiny_lora,
    toy_train,
    toy_valid,
    settings: dict,
    tmp_path: Path,
) -> None:
    # the tiny base without its dropout, so both runs draw nothing at random
    still = shutil.copytree(tiny_lora.base_model, tmp_path / "still")
    config_file = still / "config.json"
    base_config = json.loads(config_file.read_text())
    base_config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config_file.write_text(json.dumps(base_config))
    seen_rows: list[int] = []
    real_inputs = train_module._training_inputs

    def recording_inputs(*args, **kwargs):
        forward_rows, lengths = real_inputs(*args, **kwargs)

        def forward(rows: np.ndarray) -> torch.Tensor:
            seen_rows.append(len(rows))
            return forward_rows(rows)

        return forward, lengths

    monkeypatch.setattr(train_module, "_training_inputs", recording_inputs)
    config = replace(tiny_lora, base_model=str(still), **settings)
    if config.class_weights == "balanced":  # skewed classes, so the weights differ
        kept = [i for i, label in enumerate(toy_train.targets) if label != "neutral" or i % 4]
        texts, targets = toy_train.texts, toy_train.targets
        toy_train = Examples([texts[i] for i in kept], [targets[i] for i in kept])
    whole = TaskHead.train(SPEC, toy_train, toy_valid, config)
    assert max(seen_rows) == config.batch_size * (2 if config.rdrop else 1)
    seen_rows.clear()
    parts = TaskHead.train(SPEC, toy_train, toy_valid, replace(config, micro_batch_size=3))
    # 8-row batches run as parts of 3, 3 and 2 (R-Drop: each part's rows twice)
    assert max(seen_rows) == 3 * (2 if config.rdrop else 1)
    steps = -(-len(toy_train.texts) // config.batch_size)
    assert len(seen_rows) > 2 * steps
    # no dropout anywhere (so R-Drop's passes agree: its disagreement's share is checked
    # below): the same updates, so the same weights
    whole_weights, part_weights = _trainable(whole.net), _trainable(parts.net)
    assert whole_weights.keys() == part_weights.keys()
    for name, weight in whole_weights.items():
        torch.testing.assert_close(part_weights[name], weight, atol=1e-5, rtol=1e-4, msg=name)
    assert parts.config.micro_batch_size == 3


class _TwoPassNet(torch.nn.Module):
    """A stand-in network whose second R-Drop pass differs from the first by a fixed factor,
    whatever rows a call holds: the disagreement term is then never zero, yet deterministic."""

    def __init__(self, features: torch.Tensor) -> None:
        super().__init__()
        self.features = features
        self.encoder = torch.nn.Linear(features.shape[1], 4)
        self.head = torch.nn.Linear(4, 3)

    def forward_rows(self, rows: np.ndarray) -> torch.Tensor:
        logits = self.head(torch.tanh(self.encoder(self.features[rows])))
        second = torch.arange(len(rows)) >= len(rows) // 2
        return logits * (1.0 + 0.5 * second.unsqueeze(1))


@pytest.mark.parametrize("weights", [None, torch.tensor([1.0, 3.0, 0.5])], ids=["", "weighted"])
def test_micro_batches_weigh_the_rdrop_disagreement_by_rows(weights) -> None:
    rows = np.arange(10)
    y = np.array([0, 1, 2, 0, 0, 1, 2, 2, 0, 1])
    grads = []
    for micro in (None, 3):
        torch.manual_seed(0)
        net = _TwoPassNet(torch.randn(10, 5))
        config = HeadConfig(rdrop=2.0, micro_batch_size=micro, label_smoothing=0.1)
        stepper = train_module._Stepper(net, SPEC, y, config, weights, None, "cpu", total=4)
        loss = stepper.step(net.forward_rows, rows)
        grads.append(([p.grad.clone() for p in net.parameters()], loss))
    (whole, whole_loss), (parts, parts_loss) = grads
    assert parts_loss == pytest.approx(whole_loss, rel=1e-5)
    for a, b in zip(whole, parts, strict=True):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5)
