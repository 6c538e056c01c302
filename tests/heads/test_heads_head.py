"""Training modes, what each may change, and the save/load round trip (tiny random BERT)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from shoplm.heads import (
    Examples,
    HeadConfig,
    HeadDataError,
    HeadFormatError,
    LoraSettings,
    TaskHead,
    TaskSpec,
)
from shoplm.heads.model import load_base

LABELS = ("negative", "neutral", "positive")
SPEC = TaskSpec("sentiment", "classification", LABELS)
PROBE = ["great lovely dress", "awful broken size", "the fit is okay"]
STARS = ("1", "2", "3", "4", "5")
STAR_GROUPS = ("neg", "neg", "neu", "pos", "pos")


def _as_stars(part: Examples) -> Examples:
    """The toy sentiment rows with star labels: 1 or 2 negative, 3 neutral, 4 or 5 positive."""
    fine = {"negative": ["1", "2"], "neutral": ["3", "3"], "positive": ["4", "5"]}
    return Examples(part.texts, [fine[t][i % 2] for i, t in enumerate(part.targets)])


def _star_head(
    kind: str, base: str, toy_train: Examples, toy_valid: Examples, epochs: int
) -> tuple[TaskSpec, TaskHead, Examples]:
    """A LoRA head of ``kind`` trained on the toy rows' star labels: its spec, itself and
    its validation rows."""
    spec = TaskSpec("sentiment", kind, STARS, STAR_GROUPS)
    train, valid = _as_stars(toy_train), _as_stars(toy_valid)
    return spec, TaskHead.train(spec, train, valid, _config(base, "lora", epochs=epochs)), valid


def _config(base: str, mode: str, **changes: object) -> HeadConfig:
    settings: dict = {
        "mode": mode,
        "base_model": base,
        "batch_size": 8,
        "epochs": 2,
        "class_weights": "none",
        "probe_epochs": 20,
        "lora": LoraSettings(r=2, alpha=4, dropout=0.0),
    }
    settings.update(changes)
    return HeadConfig(**settings)  # type: ignore[arg-type]


def _encoder_weights(head: TaskHead) -> dict[str, torch.Tensor]:
    """The base transformer's own weights (adapter weights excluded), as CPU copies."""
    return {
        name.replace("base_model.model.", "").replace(".base_layer", ""): p.detach().clone()
        for name, p in head.net.encoder.named_parameters()
        if "lora_" not in name
    }


def test_lora_trains_only_adapter_and_head(tiny_base, toy_train, toy_valid) -> None:
    base = load_base(tiny_base)
    before = {n: p.detach().clone() for n, p in base.encoder.named_parameters()}
    head = TaskHead.train(SPEC, toy_train, toy_valid, _config(tiny_base, "lora"))
    cfg = base.encoder.config
    h, inner, layers, r = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, 2
    # per layer: query, key, value, attention output (h -> h), intermediate (h -> inner),
    # output (inner -> h); LoRA adds r * (in + out) weights to each; the head h*3 + 3.
    per_layer = 4 * r * (h + h) + r * (h + inner) + r * (inner + h)
    assert head.trainable_parameters == layers * per_layer + h * 3 + 3
    trainable = {n for n, p in head.net.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    after = _encoder_weights(head)
    assert set(after) == set(before)
    assert all(torch.equal(before[n], after[n]) for n in before)
    lora_b = [p for n, p in head.net.encoder.named_parameters() if "lora_B" in n]
    assert any(p.abs().sum() > 0 for p in lora_b)  # the adapter did move (B starts at 0)
    assert head.info["history"] and head.info["steps"] >= head.info["best_step"] >= 1


def test_probe_leaves_the_encoder_untouched(tiny_base, toy_train, toy_valid) -> None:
    base = load_base(tiny_base)
    before = {n: p.detach().clone() for n, p in base.encoder.named_parameters()}
    head = TaskHead.train(SPEC, toy_train, toy_valid, _config(tiny_base, "probe"))
    assert head.trainable_parameters == base.dim * 3 + 3
    assert not any(p.requires_grad for p in head.net.encoder.parameters())
    after = dict(head.net.encoder.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in before)
    # the separable toy task is learnt from the frozen vectors
    assert head.info["validation"]["macro_f1"] > 0.5
    assert head.predict(PROBE) == [head.predict([t])[0] for t in PROBE]


@pytest.mark.parametrize("mode", ["lora", "probe"])
def test_save_load_round_trip_predicts_identically(
    tiny_base, toy_train, toy_valid, tmp_path: Path, mode: str
) -> None:
    head = TaskHead.train(SPEC, toy_train, toy_valid, _config(tiny_base, mode))
    folder = head.save(tmp_path / mode, metrics={"test": {"macro_f1": 0.5}})
    files = sorted(p.name for p in folder.iterdir())
    expected = ["head.safetensors", "manifest.json"]
    assert files == (sorted(["adapter.safetensors", *expected]) if mode == "lora" else expected)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["labels"] == list(LABELS) and manifest["mode"] == mode
    assert manifest["base_model"] == tiny_base and manifest["base_model_id"].startswith("tiny")
    assert manifest["metrics"] == {"test": {"macro_f1": 0.5}}
    assert (manifest["lora"] is not None) == (mode == "lora")
    loaded = TaskHead.load(folder)
    np.testing.assert_array_equal(loaded.outputs(PROBE), head.outputs(PROBE))
    np.testing.assert_array_equal(loaded.predict_proba(PROBE), head.predict_proba(PROBE))
    assert loaded.predict(PROBE) == head.predict(PROBE)
    assert loaded.trainable_parameters == head.trainable_parameters


def test_a_plain_mean_pooled_head_keeps_its_pooling_when_loaded(
    tiny_lora, toy_train, toy_valid, tmp_path: Path
) -> None:
    config = replace(tiny_lora, pooling="mean", head_dropout=0.1)
    head = TaskHead.train(SPEC, toy_train, toy_valid, config)
    assert head.net.normalise is False and head.net.dropout.p == 0.1
    loaded = TaskHead.load(head.save(tmp_path / "plain"))
    assert loaded.config.pooling == "mean" and loaded.net.normalise is False
    np.testing.assert_array_equal(loaded.outputs(PROBE), head.outputs(PROBE))
    lengths = np.linalg.norm(loaded.embed(PROBE), axis=1)
    assert not np.allclose(lengths, 1.0)


def test_a_dora_head_trains_a_length_per_output_and_keeps_it_when_loaded(
    tiny_lora, toy_train, toy_valid, tmp_path: Path
) -> None:
    config = replace(tiny_lora, lora=replace(tiny_lora.lora, dora=True))
    head = TaskHead.train(SPEC, toy_train, toy_valid, config)
    plain = TaskHead.train(SPEC, toy_train, toy_valid, tiny_lora)
    lengths = {n: p for n, p in head.net.encoder.named_parameters() if "lora_magnitude_vector" in n}
    assert lengths and all(p.requires_grad for p in lengths.values())
    # one length per output row of every adapted layer (query, key, value, attention output:
    # h rows each; intermediate: inner; output: h), on top of the plain adapter
    cfg = head.net.encoder.config
    h, inner = cfg.hidden_size, cfg.intermediate_size
    assert sum(p.numel() for p in lengths.values()) == cfg.num_hidden_layers * (5 * h + inner)
    assert head.trainable_parameters == plain.trainable_parameters + sum(
        p.numel() for p in lengths.values()
    )
    loaded = TaskHead.load(head.save(tmp_path / "dora"))
    assert loaded.config.lora.dora
    np.testing.assert_allclose(loaded.outputs(PROBE), head.outputs(PROBE), atol=1e-6)
    assert not np.allclose(loaded.outputs(PROBE), plain.outputs(PROBE))


def test_a_probe_started_lora_head_begins_where_the_probe_ended(
    tiny_base, toy_train, toy_valid, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoplm.heads import head as head_module

    seen: dict[str, dict[str, torch.Tensor]] = {}
    fit_probe, fit_network = head_module.train_probe, head_module.train_network

    def output_layer(net: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in net.head.state_dict().items()}

    def watched_probe(net, *args, **kwargs):
        seen["before probe"] = output_layer(net)
        found = fit_probe(net, *args, **kwargs)
        seen["after probe"] = output_layer(net)
        return found

    def watched_network(net, *args, **kwargs):
        seen["lora start"] = output_layer(net)
        return fit_network(net, *args, **kwargs)

    monkeypatch.setattr(head_module, "train_probe", watched_probe)
    monkeypatch.setattr(head_module, "train_network", watched_network)
    config = _config(tiny_base, "lora", init_head="probe", epochs=1)
    head = TaskHead.train(SPEC, toy_train, toy_valid, config)
    # the probe fitted the LoRA net's own output layer, and LoRA training started from it
    assert not torch.equal(seen["before probe"]["weight"], seen["after probe"]["weight"])
    for name, value in seen["after probe"].items():
        torch.testing.assert_close(seen["lora start"][name], value, rtol=0, atol=0)
    assert set(head.info["probe_start"]) >= {"macro_f1", "accuracy"}

    seen.clear()
    TaskHead.train(SPEC, toy_train, toy_valid, _config(tiny_base, "lora", epochs=1))
    assert set(seen) == {"lora start"}  # a randomly started head fits no probe


def test_bad_training_label_is_an_error_naming_the_row(tiny_base, toy_valid) -> None:
    train = Examples(["good dress", "bad fit", "okay size"], ["positive", "negative", "meh"])
    with pytest.raises(HeadDataError, match=r"row 2: label 'meh' is not one of"):
        TaskHead.train(SPEC, train, toy_valid, _config(tiny_base, "probe"))


def test_auto_class_weights_try_both_and_keep_the_better(tiny_base, toy_train, toy_valid) -> None:
    head = TaskHead.train(
        SPEC, toy_train, toy_valid, _config(tiny_base, "probe", class_weights="auto")
    )
    tried = head.info["class_weights_tried"]
    assert set(tried) == {"none", "balanced"}
    best = max(tried, key=lambda k: tried[k]["macro_f1"])
    assert tried[head.info["class_weights"]]["macro_f1"] == tried[best]["macro_f1"]


def test_regression_and_binary_heads(tiny_base, toy_train, toy_valid, tmp_path: Path) -> None:
    stars = {"positive": 5.0, "neutral": 3.0, "negative": 1.0}
    rating = TaskSpec("rating", "regression")
    train = Examples(toy_train.texts, [stars[t] for t in toy_train.targets])
    valid = Examples(toy_valid.texts, [stars[t] for t in toy_valid.targets])
    head = TaskHead.train(rating, train, valid, _config(tiny_base, "lora", epochs=1))
    values = head.predict_values(PROBE)
    assert values.shape == (3,) and np.isfinite(values).all()
    assert set(head.evaluate(valid)) == {"rmse"}
    loaded = TaskHead.load(head.save(tmp_path / "rating"))
    np.testing.assert_allclose(loaded.predict_values(PROBE), values, rtol=1e-6)
    with pytest.raises(ValueError, match="regression"):
        head.predict_proba(PROBE)

    click = TaskSpec("click", "binary", ("skip", "click"))
    train = Examples(toy_train.texts, [int(t == "positive") for t in toy_train.targets])
    valid = Examples(toy_valid.texts, [int(t == "positive") for t in toy_valid.targets])
    head = TaskHead.train(click, train, valid, _config(tiny_base, "probe"))
    proba = head.predict_proba(PROBE)
    assert proba.shape == (3, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    assert set(head.predict(PROBE)) <= {"skip", "click"}
    assert set(head.evaluate(valid)) == {"auc", "log_loss", "accuracy"}


def test_a_grouped_head_learns_fine_labels_and_predicts_their_groups(
    tiny_base, toy_train, toy_valid, tmp_path: Path
) -> None:
    spec, head, valid = _star_head("classification", tiny_base, toy_train, toy_valid, epochs=1)
    assert head.net.head.out_features == 5  # it learns the five labels ...
    proba = head.predict_proba(PROBE)
    assert proba.shape == (3, 3)  # ... and reports the three groups
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    assert set(head.predict(PROBE)) <= {"neg", "neu", "pos"}
    assert head.calibration is None or head.calibration.shape == (3,)
    assert {"f1_neg", "f1_neu", "f1_pos"} <= set(head.evaluate(valid))
    folder = head.save(tmp_path / "grouped")
    assert json.loads((folder / "manifest.json").read_text())["labels"] == ["neg", "neu", "pos"]
    loaded = TaskHead.load(folder)
    assert loaded.spec == spec
    np.testing.assert_array_equal(loaded.predict_proba(PROBE), proba)


def test_an_ordinal_head_learns_the_scale_and_cuts_it_into_groups(
    tiny_base, toy_train, toy_valid, tmp_path: Path
) -> None:
    spec, head, valid = _star_head("ordinal", tiny_base, toy_train, toy_valid, epochs=2)
    assert head.net.head.out_features == 1  # one number: the position on the star scale
    assert head.calibration is not None and head.calibration.shape == (2,)
    assert head.calibration[0] < head.calibration[1]
    values = head.predict_values(PROBE)
    assert values.shape == (3,) and np.isfinite(values).all()
    predicted = head.predict(PROBE)
    expected = np.searchsorted(head.calibration, values, side="right")
    assert predicted == [("neg", "neu", "pos")[i] for i in expected]
    scores = head.evaluate(valid)
    assert {"accuracy", "macro_f1", "f1_neg", "f1_neu", "f1_pos", "rmse"} == set(scores)
    assert scores["macro_f1"] == head.info["validation"]["macro_f1"]  # chosen on these rows
    with pytest.raises(ValueError, match="no probabilities: use predict or predict_values"):
        head.predict_proba(PROBE)

    folder = head.save(tmp_path / "ordinal")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["calibration"] == [float(v) for v in head.calibration]
    loaded = TaskHead.load(folder)
    assert loaded.spec == spec
    np.testing.assert_array_equal(loaded.calibration, head.calibration)
    np.testing.assert_allclose(loaded.predict_values(PROBE), values, rtol=1e-6)
    assert loaded.predict(PROBE) == predicted


def test_heads_saved_before_the_calibration_key_still_load(
    tiny_base, toy_train, toy_valid, tmp_path: Path
) -> None:
    head = TaskHead.train(SPEC, toy_train, toy_valid, _config(tiny_base, "probe"))
    folder = head.save(tmp_path / "old")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["offsets"] = [0.0, 1.5, -0.5]  # what earlier versions wrote
    del manifest["calibration"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    np.testing.assert_array_equal(TaskHead.load(folder).calibration, [0.0, 1.5, -0.5])


def test_loading_refuses_a_folder_that_is_not_a_head(tmp_path: Path) -> None:
    with pytest.raises(HeadFormatError, match=r"no manifest\.json"):
        TaskHead.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other/9"}))
    with pytest.raises(HeadFormatError, match="expected 'shoplm-task-head/1'"):
        TaskHead.load(tmp_path)


def test_probe_vectors_go_through_the_embedding_cache(
    tiny_base, toy_train, toy_valid, tmp_path: Path
) -> None:
    from shoplm.heads.features import cache_model_id
    from shoplm.text.cache import EmbeddingCache, text_hash

    with EmbeddingCache(tmp_path / "vectors.sqlite") as cache:
        first = TaskHead.train(SPEC, toy_train, toy_valid, _config(tiny_base, "probe"), cache=cache)
        key = cache_model_id(first.base.model_id, first.config.max_seq_length)
        texts = set(toy_train.texts + toy_valid.texts)
        stored = cache.get_many(key, [text_hash(t) for t in texts])
        assert len(stored) == len(texts)
        again = TaskHead.train(SPEC, toy_train, toy_valid, _config(tiny_base, "probe"), cache=cache)
    np.testing.assert_allclose(again.outputs(PROBE), first.outputs(PROBE), atol=1e-6)
    assert "|heads-meanpool-norm|max128" in key  # never mixed with the search encoder's vectors


def test_a_head_no_better_than_a_constant_says_so(tiny_base, toy_train, toy_valid) -> None:
    heard: list[str] = []
    config = _config(tiny_base, "probe")
    head = TaskHead.train(SPEC, toy_train, toy_valid, config, say=heard.append)
    assert head.info["beats_constant"] and not any("warning" in m for m in heard)
    # one class only in validation: predicting it everywhere is already the best score
    positive = Examples(
        [t for t, y in zip(toy_valid.texts, toy_valid.targets, strict=True) if y == "positive"],
        ["positive"] * toy_valid.targets.count("positive"),
    )
    head = TaskHead.train(SPEC, toy_train, positive, config, say=heard.append)
    assert not head.info["beats_constant"]
    assert any("validates no better than a constant prediction" in m for m in heard)


def test_a_collapsed_lora_head_is_trained_again_at_half_the_rate(
    tiny_lora, toy_train, toy_valid, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoplm.heads import head as head_module

    rates: list[float] = []
    fit_network = head_module.train_network

    def watched_network(*args, **kwargs):
        rates.append(args[7].encoder_lr)  # the attempt's HeadConfig
        return fit_network(*args, **kwargs)

    monkeypatch.setattr(head_module, "train_network", watched_network)
    heard: list[str] = []
    learnt = TaskHead.train(SPEC, toy_train, toy_valid, tiny_lora, say=heard.append)
    assert learnt.info["beats_constant"] and learnt.info["collapse_retries"] == []
    assert rates == [tiny_lora.encoder_lr]
    # one class only in validation: no head can beat the constant, so every attempt "collapses"
    positive = Examples(
        [t for t, y in zip(toy_valid.texts, toy_valid.targets, strict=True) if y == "positive"],
        ["positive"] * toy_valid.targets.count("positive"),
    )
    rates.clear()
    head = TaskHead.train(
        SPEC, toy_train, positive, replace(tiny_lora, collapse_retries=2), say=heard.append
    )
    lr = tiny_lora.encoder_lr
    assert rates == [lr, lr / 2, lr / 4]
    assert [r["encoder_lr"] for r in head.info["collapse_retries"]] == [lr, lr / 2]
    assert head.config.encoder_lr == lr / 4  # the saved settings are the attempt kept
    # an attempt with a retry after it stops at its first validation; the last runs to the end
    assert [r["steps"] for r in head.info["collapse_retries"]] == [3, 3]
    assert head.info["steps"] == 6
    assert sum("training it again at" in m for m in heard) == 2
    assert not head.info["beats_constant"]
    rates.clear()
    TaskHead.train(SPEC, toy_train, positive, replace(tiny_lora, collapse_retries=0))
    assert rates == [lr]
