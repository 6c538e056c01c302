"""The heads evaluation: task building and one tiny end-to-end run."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shoplm.cli import app
from shoplm.datasets import (
    QueryClassDataset,
    SearchDataset,
    SearchQuery,
    TextLabelDataset,
    load_dataset,
)
from shoplm.evaluation.heads_eval import (
    _parser,
    build_task,
    evaluate_heads,
    pretrain_config,
    training_config,
)
from shoplm.heads import HeadConfig, LoraSettings, TaskKind
from shoplm.pretrain import MaskedLmConfig
from shoplm.pretrain.masked_lm import texts_hash
from shoplm.schema import Item

WORDS = {5: "great lovely", 4: "nice good", 3: "okay fine", 2: "poor bad", 1: "awful broken"}


def _clothing_folder(folder: Path, n: int = 60) -> Path:
    """A womens_clothing_reviews-shaped folder: gzip'd CSV with the source's columns."""
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row_id", "Clothing ID", "Title", "Review Text", "Rating", "Recommended IND"])
    for i in range(n):
        rating = i % 5 + 1
        recommended = int(rating > 3 or (rating == 3 and i % 2 == 0))
        writer.writerow([i, 100 + i % 7, "", f"the dress is {WORDS[rating]}", rating, recommended])
    (folder / "reviews.csv.gz").write_bytes(gzip.compress(buffer.getvalue().encode(), mtime=0))
    return folder


def test_build_task_from_each_supported_kind_of_dataset() -> None:
    reviews = TextLabelDataset("r", ["good", "bad", "meh"], [5.0, 1.0, 3.0], [2, 0, 1])
    sentiment = build_task("sentiment", reviews)
    assert sentiment.examples.targets == ["positive", "negative", "neutral"]
    assert build_task("rating", reviews).spec.kind is TaskKind.REGRESSION

    queries = QueryClassDataset(
        "wands_queries",
        [(str(i), f"query {i}", "Chairs" if i % 2 else "Lamps") for i in range(8)]
        + [("x", "lonely", "Rare"), ("y", "no class", "")],
    )
    categories = build_task("categorisation", queries, min_class_count=2)
    assert categories.spec.labels == ("Chairs", "Lamps") and len(categories.examples) == 8

    search = SearchDataset(
        "homedepot_search",
        [Item(item_id="1", title="cordless drill"), Item(item_id="2", title="garden hose")],
        [SearchQuery("q1", "drill", {"1": 3.0, "2": 1.0})],
    )
    click = build_task("click", search)
    assert click.examples.texts == ["drill [SEP] cordless drill", "drill [SEP] garden hose"]
    assert click.examples.targets == [1, 0] and click.groups == ["q1", "q1"]
    with pytest.raises(ValueError, match="does not fit dataset 'homedepot_search'"):
        build_task("sentiment", search)


def _tiny_lora(tiny_base: str) -> dict:
    """Settings of a quick sentiment run with a small LoRA head on the tiny base."""
    return dict(task="sentiment", head=_tiny_head(tiny_base), class_weights="none")


def _tiny_head(tiny_base: str, **changes: Any) -> HeadConfig:
    """One quick epoch of a rank-2 LoRA head on the top block of the tiny base."""
    head = HeadConfig(
        base_model=tiny_base, epochs=1, batch_size=8, lora=LoraSettings(r=2, alpha=4, layers=1)
    )
    return replace(head, **changes)


def test_one_run_trains_probe_and_lora_on_the_same_split(tiny_base, tmp_path: Path) -> None:
    data = _clothing_folder(tmp_path / "reviews")
    result = evaluate_heads(
        data,
        **{
            **_tiny_lora(tiny_base),
            "head": _tiny_head(tiny_base, init_head="probe", ema_decay=0.95),
        },
        save_to=tmp_path / "heads",
    )
    assert result["head_task"] == "sentiment" and result["dataset"] == "womens_clothing_reviews"
    assert set(result["metrics"]) == {"constant", "probe", "lora"}
    for mode in ("probe", "lora"):
        row = result["metrics"][mode]
        assert {"accuracy", "macro_f1", "trainable_parameters", "wall_seconds"} <= set(row)
        assert row["peak_rss_mb"] > 0 and 0.0 <= row["macro_f1"] <= 1.0
        assert row["macro_f1_low"] <= row["macro_f1"] <= row["macro_f1_high"]
        assert row["macro_f1_se"] >= 0.0
        assert (tmp_path / "heads" / mode / "manifest.json").is_file()
    assert (
        result["metrics"]["lora"]["trainable_parameters"]
        > (result["metrics"]["probe"]["trainable_parameters"])
    )
    split = result["split"]
    assert split["sizes"] == {"train": 42, "valid": 5, "test": 13}
    assert not set(split["rows"]["train"]) & set(split["rows"]["test"])
    assert result["label_counts"]["test"] == {"negative": 5, "neutral": 3, "positive": 5}
    # negative and positive tie as the training majority; the first label wins
    assert result["metrics"]["constant"]["accuracy"] == round(5 / 13, 6)
    assert result["config"]["lora"]["init_head"] == "probe"  # LP-FT: LoRA starts at a probe
    assert result["config"]["lora"]["ema_decay"] == 0.95
    assert "macro_f1" in result["training"]["lora"]["probe_start"]
    json.dumps(result)  # the result is plain JSON


def _probe_run(tiny_base: str) -> dict:
    """Settings of a quick probe-only sentiment run on the tiny base."""
    return {**_tiny_lora(tiny_base), "modes": ("probe",)}


THREE_REVIEWS = TextLabelDataset("r", ["good", "bad", "meh"], [5.0, 2.0, 3.0], [2, 0, 1])


def test_star_targets_train_on_stars_and_report_the_three_groups() -> None:
    reviews = THREE_REVIEWS
    built = build_task("sentiment", reviews, star_targets=True)
    assert built.examples.targets == ["5 stars", "2 stars", "3 stars"]
    assert built.spec.reported_labels == ("negative", "neutral", "positive")
    with pytest.raises(ValueError, match=r"row 0: rating 4\.5 is not a whole number"):
        build_task("sentiment", TextLabelDataset("r", ["x"], [4.5], [2]), star_targets=True)
    with pytest.raises(ValueError, match="sentiment option"):
        build_task("rating", reviews, star_targets=True)


def test_ordinal_sentiment_cuts_the_star_scale() -> None:
    reviews = THREE_REVIEWS
    built = build_task("sentiment", reviews, ordinal=True)
    assert built.spec.kind is TaskKind.ORDINAL and built.spec.labels[0] == "1 star"
    assert built.examples.targets == ["5 stars", "2 stars", "3 stars"]
    with pytest.raises(ValueError, match="takes no finer targets"):
        build_task("sentiment", reviews, star_targets=True, ordinal=True)
    with pytest.raises(ValueError, match="ordinal is a sentiment option"):
        build_task("rating", reviews, ordinal=True)


def test_recommended_targets_cross_sentiment_with_the_recommend_flag() -> None:
    reviews = replace(THREE_REVIEWS, recommended=[True, False, True])
    built = build_task("sentiment", reviews, recommended_targets=True)
    assert built.examples.targets == [
        "positive, recommended",
        "negative, not recommended",
        "neutral, recommended",
    ]
    assert len(built.spec.labels) == 6
    assert built.spec.reported_labels == ("negative", "neutral", "positive")
    assert built.spec.reported_targets(built.examples.targets) == [
        "positive",
        "negative",
        "neutral",
    ]
    with pytest.raises(ValueError, match="r has no recommend flag per review"):
        build_task("sentiment", THREE_REVIEWS, recommended_targets=True)
    both = build_task("sentiment", reviews, star_targets=True, recommended_targets=True)
    assert len(both.spec.labels) == 10 and both.spec.groups[-1] == "positive"
    assert both.examples.targets[:2] == ["5 stars, recommended", "2 stars, not recommended"]
    assert "five star ratings crossed with the reviewer's recommend flag" in both.description
    with pytest.raises(ValueError, match="takes no finer targets"):
        build_task("sentiment", reviews, ordinal=True, recommended_targets=True)
    with pytest.raises(ValueError, match="recommended targets is a sentiment option"):
        build_task("rating", reviews, recommended_targets=True)


def test_star_target_and_ordinal_runs_keep_the_three_way_split(tiny_base, tmp_path: Path) -> None:
    data = _clothing_folder(tmp_path / "reviews")
    common = _probe_run(tiny_base)
    plain = evaluate_heads(data, **common)
    stars = evaluate_heads(data, star_targets=True, **common)
    assert stars["split"]["rows"] == plain["split"]["rows"]  # the same test rows
    assert stars["labels"] == ["negative", "neutral", "positive"]
    assert stars["trained_labels"] == ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]
    assert stars["metrics"]["constant"] == plain["metrics"]["constant"]
    assert "f1_neutral" in stars["metrics"]["probe"]
    assert "five star ratings" in stars["protocol"]

    ordinal = evaluate_heads(data, ordinal=True, **common)
    assert ordinal["split"]["rows"] == plain["split"]["rows"]  # stratified the same way
    assert ordinal["split"]["by"] == "label"
    assert ordinal["labels"] == ["negative", "neutral", "positive"]
    assert {"macro_f1", "f1_neutral", "rmse"} <= set(ordinal["metrics"]["probe"])
    cutpoints = ordinal["training"]["probe"]["cutpoints"]
    assert len(cutpoints) == 2 and cutpoints[0] < cutpoints[1]
    # the constant baseline still predicts the training majority for every review
    constant, plain_constant = ordinal["metrics"]["constant"], plain["metrics"]["constant"]
    assert constant["accuracy"] == plain_constant["accuracy"]
    assert constant["macro_f1"] == plain_constant["macro_f1"]
    assert "cutting it into the three groups" in ordinal["protocol"]

    flagged = evaluate_heads(data, recommended_targets=True, **common)
    assert flagged["split"]["rows"] == plain["split"]["rows"]
    assert flagged["labels"] == ["negative", "neutral", "positive"]
    assert len(flagged["trained_labels"]) == 6
    assert {"macro_f1", "f1_neutral"} <= set(flagged["metrics"]["probe"])


def test_shoplm_evaluate_heads_prints_json(tiny_base, tmp_path: Path) -> None:
    data = _clothing_folder(tmp_path / "reviews", n=40)
    args = ["--task", "rating", "--data", str(data), "--modes", "probe", "--json"]
    result = CliRunner().invoke(app, ["evaluate", "heads", *args, "--base-model", tiny_base])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["head_task"] == "rating" and "rmse" in out["metrics"]["probe"]
    args = ["--data", str(data), "--ordinal", "--modes", "probe", "--json"]
    result = CliRunner().invoke(app, ["evaluate", "heads", *args, "--base-model", tiny_base])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["head_task"] == "sentiment" and len(out["training"]["probe"]["cutpoints"]) == 2


def test_training_options_reach_the_head_config() -> None:
    options = ["--ema-decay", "0.99", "--init-head", "probe", "--pooling", "mean"]
    options += ["--head-dropout", "0.1", "--collapse-retries", "0", "--label-smoothing", "0.1"]
    options += ["--rdrop", "1.0", "--layer-lr-decay", "0.8", "--micro-batch-size", "8"]
    args = _parser().parse_args(["--data", "x", *options])
    config = training_config(args, "none")
    assert config.ema_decay == 0.99 and config.init_head == "probe" and not config.refit
    refit = training_config(_parser().parse_args(["--data", "x", "--refit"]), "none")
    assert refit.refit and refit.init_head == "random"
    assert config.pooling == "mean" and config.head_dropout == 0.1
    assert config.collapse_retries == 0 and config.label_smoothing == 0.1
    assert config.rdrop == 1.0 and config.layer_lr_decay == 0.8
    assert config.micro_batch_size == 8 and config.batch_size == 32
    more = ["--data", "x", "--device", "cpu", "--lora-layers", "0", "--lora-r", "4", "--seed", "7"]
    config = training_config(_parser().parse_args(more), "balanced")
    assert config.device == "cpu" and config.seed == 7 and config.class_weights == "balanced"
    assert config.lora == LoraSettings(r=4, alpha=32, layers=None)  # 0: every block
    plain = training_config(_parser().parse_args(["--data", "x"]), "none")
    assert plain.ema_decay is None and plain.rdrop == 0.0 and plain.layer_lr_decay == 1.0
    assert plain.micro_batch_size is None and not plain.lexical
    assert training_config(_parser().parse_args(["--data", "x", "--lexical"]), "none").lexical


def test_a_lexical_run_reports_the_blend_and_each_part_alone(tiny_base, tmp_path: Path) -> None:
    data = _clothing_folder(tmp_path / "reviews")
    args = ["--data", str(data), "--modes", "lora", "--lexical", "--epochs", "1"]
    args += ["--lora-r", "2", "--lora-alpha", "4", "--lora-layers", "1", "--batch-size", "8"]
    args += ["--base-model", tiny_base, "--save", str(tmp_path / "heads"), "--json"]
    result = CliRunner().invoke(app, ["evaluate", "heads", *args])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["config"]["lora"]["lexical"] is True
    lexical = out["training"]["lora"]["lexical"]
    assert len(lexical["weights_tried"]) == 11 and 0.0 <= lexical["weight"] <= 1.0
    test = lexical["test"]
    blended = out["metrics"]["lora"]["macro_f1"]
    network = test["network_alone"]["macro_f1"]
    assert test["gain_over_network"]["difference"] == pytest.approx(blended - network, abs=1e-5)
    gain = test["gain_over_network"]
    assert gain["metric"] == "macro_f1" and gain["low"] <= gain["high"]
    assert 0.0 <= test["lexical_alone"]["macro_f1"] <= 1.0
    # the saved head carries its word classifier
    assert (tmp_path / "heads" / "lora" / "lexical.json").is_file()


def test_members_average_lora_heads_and_report_each_alone(tiny_base, tmp_path: Path) -> None:
    data = _clothing_folder(tmp_path / "reviews")
    settings = {**_tiny_lora(tiny_base), "modes": ["lora"], "head": _tiny_head(tiny_base, epochs=4)}
    single = evaluate_heads(data, **settings)
    pair = evaluate_heads(data, members=2, save_to=tmp_path / "heads", **settings)
    assert pair["members"] == 2 and single["members"] == 1
    lora = pair["training"]["lora"]
    assert len(lora["member_training"]) == 2  # both seeds trained
    # on this tiny set seed 42's head does not raise seed 43's validation score: left out
    assert lora["seeds"] == [43] and lora["left_out_seeds"] == [42]
    assert len(lora["member_test"]) == 1 and "member_test" not in single["training"]["lora"]
    # the mean of one member is that member: the ensemble scores what it scores alone
    alone = lora["member_test"][0]
    assert alone == {k: v for k, v in pair["metrics"]["lora"].items() if k in alone}
    parameters = single["metrics"]["lora"]["trainable_parameters"]
    assert pair["metrics"]["lora"]["trainable_parameters"] == parameters
    assert (tmp_path / "heads" / "lora" / "ensemble.json").is_file()
    with pytest.raises(ValueError, match="members must be at least 1"):
        evaluate_heads(data, members=0, **settings)


def test_an_ensemble_blends_one_word_classifier_into_its_mean(tiny_base, tmp_path: Path) -> None:
    data = _clothing_folder(tmp_path / "reviews")
    head = _tiny_head(tiny_base, lexical=True)
    settings = {**_tiny_lora(tiny_base), "modes": ["lora"], "head": head}
    pair = evaluate_heads(data, members=2, save_to=tmp_path / "heads", **settings)
    lora = pair["training"]["lora"]
    assert all("lexical" not in member for member in lora["member_training"])
    test = lora["lexical"]["test"]  # the blend of the members' mean, and its parts alone
    blended = pair["metrics"]["lora"]["macro_f1"]
    network = test["network_alone"]["macro_f1"]
    assert test["gain_over_network"]["difference"] == pytest.approx(blended - network, abs=1e-5)
    saved = tmp_path / "heads" / "lora"
    assert (saved / "lexical.json").is_file() and not (saved / "member-0" / "lexical.json").exists()


def test_pretraining_first_learns_from_training_texts_and_every_mode_starts_there(
    tiny_base, tmp_path: Path
) -> None:
    data = _clothing_folder(tmp_path / "reviews")
    pretrain = MaskedLmConfig(epochs=1, batch_size=8, max_seq_length=16)
    result = evaluate_heads(
        data, **_probe_run(tiny_base), pretrain=pretrain, save_to=tmp_path / "h"
    )
    folder = tmp_path / "h" / "pretrained-base"
    built = build_task("sentiment", load_dataset(data))
    train_texts = [built.examples.texts[i] for i in result["split"]["rows"]["train"]]
    assert result["pretrain"]["texts"] == 42
    assert result["pretrain"]["texts_hash"] == texts_hash(train_texts)  # no test text seen
    assert result["pretrain"]["base_model"] == tiny_base
    assert result["config"]["probe"]["base_model"] == str(folder)
    manifest = json.loads((tmp_path / "h" / "probe" / "manifest.json").read_text())
    assert manifest["base_model"] == str(folder) and (folder / "pretrain.json").is_file()

    unsaved = evaluate_heads(data, **_probe_run(tiny_base), pretrain=pretrain)
    assert unsaved["pretrain"]["texts_hash"] == result["pretrain"]["texts_hash"]
    assert not Path(unsaved["config"]["probe"]["base_model"]).exists()  # removed after the run
    assert evaluate_heads(data, **_probe_run(tiny_base))["pretrain"] is None


def test_pretrain_options_take_the_heads_length_batch_and_seed() -> None:
    more = ["--pretrain-epochs", "2", "--pretrain-lr", "1e-4", "--batch-size", "8", "--seed", "7"]
    config = pretrain_config(_parser().parse_args(["--data", "x", *more]))
    assert config == MaskedLmConfig(
        epochs=2, encoder_lr=1e-4, batch_size=8, max_seq_length=128, seed=7
    )
    assert pretrain_config(_parser().parse_args(["--data", "x"])) is None
    with pytest.raises(SystemExit, match="--pretrain-epochs must be 0 or more"):
        pretrain_config(_parser().parse_args(["--data", "x", "--pretrain-epochs", "-1"]))
