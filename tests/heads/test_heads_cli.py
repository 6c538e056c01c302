"""`shoplm heads train / predict / list` on a home, and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from shoplm.cli import app
from shoplm.heads import HeadConfig


def test_cli_heads_train_predict_list(tmp_path: Path, labelled_reviews: Path) -> None:
    home = ["--home", str(tmp_path / "home")]
    runner = CliRunner()
    listed = runner.invoke(app, ["heads", "list", *home])
    assert listed.exit_code == 0 and "no heads yet" in listed.stdout

    train = ["heads", "train", "mood", "--data", str(labelled_reviews), *home]
    options = ["--mode", "probe", "--max-seq-length", "32", "--class-weights", "none"]
    done = runner.invoke(app, [*train, *options, "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    manifest = json.loads((Path(report["folder"]) / "manifest.json").read_text())
    assert manifest["training"]["class_weights"] == "none"  # trained once, not both ways
    assert report["mode"] == "probe" and report["rows"]["test"] == 8
    assert Path(report["folder"]) == (tmp_path / "home" / "heads" / "mood").resolve()

    said = runner.invoke(app, ["heads", "predict", "mood", "waste of money", *home, "--json"])
    assert said.exit_code == 0, said.output
    (answer,) = json.loads(said.stdout)["predictions"]
    assert answer["label"] == "negative"
    plain = runner.invoke(app, ["heads", "predict", "mood", "love it", "broke", *home])
    assert plain.exit_code == 0 and plain.stdout.splitlines()[0].startswith("positive (")

    listed = runner.invoke(app, ["heads", "list", *home])
    assert listed.exit_code == 0
    assert listed.stdout.startswith("mood: classification (probe); test macro_f1 0.")

    # Five star ratings learnt, reported as two groups.
    stars = ["--label-column", "stars", "--labels", "1,2,3,4,5", "--groups", "bad,bad,ok,good,good"]
    done = runner.invoke(app, [*train, "--mode", "probe", *stars, "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["task"]["groups"] == ["bad", "bad", "ok", "good", "good"]
    said = runner.invoke(app, ["heads", "predict", "mood", "very disappointed", *home, "--json"])
    (answer,) = json.loads(said.stdout)["predictions"]
    assert set(answer["probabilities"]) == {"bad", "ok", "good"} and answer["label"] == "bad"


def test_cli_heads_errors_are_one_line(tmp_path: Path, labelled_reviews: Path) -> None:
    home = ["--home", str(tmp_path / "home")]
    runner = CliRunner()
    missing = runner.invoke(app, ["heads", "predict", "mood", "x", *home])
    assert missing.exit_code == 2 and "no head 'mood' in this home" in missing.output
    train = ["heads", "train", "mood", "--data", str(labelled_reviews), *home]
    kind = runner.invoke(app, [*train, "--kind", "sentiment"])
    assert kind.exit_code == 2 and "head kind 'sentiment'" in kind.output
    weights = runner.invoke(app, [*train, "--class-weights", "inverse"])
    assert weights.exit_code == 2 and "class_weights must be one of" in weights.output
    mode = runner.invoke(app, [*train, "--mode", "full"])
    assert mode.exit_code == 2 and "--mode must be lora or probe" in mode.output
    column = runner.invoke(app, [*train, "--label-column", "rating"])
    assert column.exit_code == 2 and "row 1 has no column 'rating'" in column.output
    nofile = runner.invoke(app, ["heads", "train", "mood", "--data", "nope.csv", *home])
    assert nofile.exit_code == 2 and "nope.csv: no such file" in nofile.output


def test_cli_heads_train_on_a_sample_with_fewer_threads(
    tmp_path: Path, labelled_reviews: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    home = ["--home", str(tmp_path / "home")]
    train = ["heads", "train", "mood", "--data", str(labelled_reviews), *home, "--mode", "probe"]
    try:
        done = CliRunner().invoke(app, [*train, "--max-rows", "20", "--threads", "1", "--json"])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["usable_rows"] == 40 and sum(report["rows"].values()) == 20
    manifest = json.loads((Path(report["folder"]) / "manifest.json").read_text())
    saved = manifest["metrics"]
    assert saved["usable_rows"] == 40 and saved["rows"] == report["rows"]
    too_few = CliRunner().invoke(app, [*train, "--max-rows", "5"])
    assert too_few.exit_code != 0 and "--max-rows" in too_few.output


def test_cli_heads_train_passes_the_lora_settings_on(
    tmp_path: Path, labelled_reviews: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[HeadConfig] = []

    keeps: list[object] = []

    def record(home: object, name: str, data: Path, config: HeadConfig, **rest: object) -> dict:
        seen.append(config)
        keeps.append(rest["keep"])
        raise ValueError("stopped after the settings were made")

    monkeypatch.setattr("shoplm.heads.home.train_home_head", record)
    home = ["--home", str(tmp_path / "home")]
    train = ["heads", "train", "mood", "--data", str(labelled_reviews), *home]
    plain = CliRunner().invoke(app, train)
    assert plain.exit_code != 0 and "stopped after the settings" in plain.output
    assert (seen[-1].rdrop, seen[-1].layer_lr_decay, seen[-1].lora.dora) == (0.0, 1.0, False)
    assert (seen[-1].batch_size, seen[-1].micro_batch_size) == (32, None)
    assert seen[-1].mode == "lora" and seen[-1].lora.layers == 2 and not seen[-1].refit
    assert not seen[-1].lexical and keeps[-1] == "better"
    options = ["--rdrop", "1.0", "--layer-lr-decay", "0.8", "--dora", "--lexical"]
    options += ["--batch-size", "16", "--micro-batch-size", "4"]
    tuned = CliRunner().invoke(app, [*train, *options])
    assert tuned.exit_code != 0 and "stopped after the settings" in tuned.output
    assert (seen[-1].rdrop, seen[-1].layer_lr_decay, seen[-1].lora.dora) == (1.0, 0.8, True)
    assert (seen[-1].batch_size, seen[-1].micro_batch_size) == (16, 4) and seen[-1].lexical
    for flag, expected in (("--refit", True), ("--no-refit", False)):
        done = CliRunner().invoke(app, [*train, flag])
        assert done.exit_code != 0 and seen[-1].refit is expected
    bad = CliRunner().invoke(app, [*train, "--layer-lr-decay", "1.5"])
    assert bad.exit_code == 2 and "layer_lr_decay must be in (0, 1]" in bad.output
    negative = CliRunner().invoke(app, [*train, "--rdrop", "-1"])
    assert negative.exit_code == 2 and "--rdrop" in negative.output
    both = CliRunner().invoke(app, [*train, "--refit", "--lexical"])
    assert both.exit_code == 2 and "refitted head" in both.output
    keep = CliRunner().invoke(app, [*train, "--keep", "best"])
    assert keep.exit_code == 2 and "--keep must be better or mode" in keep.output
    asked = CliRunner().invoke(app, [*train, "--keep", "mode"])
    assert asked.exit_code != 0 and keeps[-1] == "mode"
    assert len(seen) == 5  # no bad setting reached training


def test_cli_heads_train_says_when_the_probe_is_kept(
    tmp_path: Path, labelled_reviews: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the probe validates higher it is saved, and both the training output and the
    listing say it was chosen over the asked mode (the choice itself is tested on real
    training in test_heads_home; here the validation scores are set)."""
    monkeypatch.setattr(
        "shoplm.heads.home.validated_score",
        lambda head: 0.9 if head.config.mode == "probe" else 0.5,
    )
    home = ["--home", str(tmp_path / "home")]
    train = ["heads", "train", "mood", "--data", str(labelled_reviews), *home]
    quick = ["--epochs", "1", "--batch-size", "64", "--max-seq-length", "16"]
    quick += ["--lora-layers", "1", "--class-weights", "none"]
    done = CliRunner().invoke(app, [*train, *quick])
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[-1].startswith("saved (probe, it validates higher) at ")
    listed = CliRunner().invoke(app, ["heads", "list", *home])
    assert listed.stdout.startswith("mood: classification (probe, validated above lora); test ")
    kept = CliRunner().invoke(app, [*train, *quick, "--keep", "mode", "--json"])
    assert json.loads(kept.stdout)["mode"] == "lora"
    listed = CliRunner().invoke(app, ["heads", "list", *home])
    assert listed.stdout.startswith("mood: classification (lora); test ")
