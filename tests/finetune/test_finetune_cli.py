"""`shoplm finetune` tunes on a tiny home, switches its encoder, and `fit` then uses it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shoplm.cli import app
from shoplm.config import DEFAULT_ENCODER, Settings
from shoplm.engine import Engine
from shoplm.finetune import home as home_module
from shoplm.finetune import train as train_module
from shoplm.finetune.filtering import keep_within_rank
from shoplm.finetune.refit import refit_steps

ARGS = ["--max-seq-length", "16", "--batch-size", "2", "--negatives", "bm25", "--json"]


def _tiny_home(tmp_path: Path, items: list[dict], events: list[dict]) -> Path:
    home = tmp_path / "home"
    with Engine.open(home) as engine:
        engine.upsert_items(items)
        engine.add_events(events)
    return home


@pytest.fixture
def home(tmp_path: Path, tiny_items: list[dict], tiny_events: list[dict]) -> Path:
    """A tiny home with the catalog and the purchases, none from a search."""
    return _tiny_home(tmp_path, tiny_items, tiny_events)


def test_cli_finetune_on_a_tiny_home(
    home: Path,
    tiny_items: list[dict],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rising = itertools.count()  # every validation a new best: the tuned model is the one to use
    monkeypatch.setattr(train_module, "_validate", lambda *args: float(next(rising)))
    runner = CliRunner()
    done = runner.invoke(app, ["finetune", "--home", str(home), *ARGS])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["finished"] and result["encoder_set"] and result["platform"] == "default"
    assert result["metrics"]["beats_base"] is True and "encoder_kept" not in result
    assert result["base_model"] == DEFAULT_ENCODER and result["mode"] == "lora"
    assert result["data"]["pairs"] == 8  # 8 users, each newest item kept for validation
    assert result["hard_negatives"]["pairs_with_negatives"] == 8
    folder = Path(result["model_folder"])
    assert folder.is_relative_to(home.resolve() / "finetune" / "default" / "lora")
    assert Settings.load(home).encoder.model == str(folder)
    saved = json.loads((home / "config.json").read_text())["encoder"]["model"]
    assert saved == folder.relative_to(home.resolve()).as_posix()  # the home can move

    fitted = runner.invoke(app, ["fit", "--home", str(home), "--json"])
    assert fitted.exit_code == 0, fitted.output
    assert json.loads(fitted.stdout)["encoded"]["encoded"] == len(tiny_items)
    with Engine.open(home) as engine:
        assert engine.fitted().encoder_id == result["model_id"] != DEFAULT_ENCODER

    # Run again: it tunes from the base (not from its own output) and resumes the finished run.
    again = runner.invoke(app, ["finetune", "--home", str(home), *ARGS])
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    assert second["base_model"] == DEFAULT_ENCODER
    assert second["resumed_at"] == result["steps"] and second["model_id"] == result["model_id"]

    # New strengths on the finished run: the text output says which strength was exported.
    plain = [arg for arg in ARGS if arg != "--json"]
    third = runner.invoke(app, ["finetune", "--home", str(home), *plain, "--strengths", "0.5"])
    assert third.exit_code == 0, third.output
    assert "exported strength" in third.stdout and "(validation 0.5: " in third.stdout

    # A refit: each user's newest item, held out until now, is trained on.  Validation here
    # rises at every check, so the last step is chosen.
    scores = itertools.count()
    monkeypatch.setattr(train_module, "_validate", lambda *args: float(next(scores)))
    refit_args = [*ARGS, "--refit", "--patience", "3"]  # new settings: a new run
    fourth = runner.invoke(app, ["finetune", "--home", str(home), *refit_args])
    assert fourth.exit_code == 0, fourth.output
    tuned = json.loads(fourth.stdout)
    refit = tuned["metrics"]["refit"]
    assert refit["pairs"] == 8 and refit["held_out_pairs"] == result["data"]["valid_cases"] == 4
    assert refit["chosen_step"] == tuned["steps"] == 4  # 8 pairs in batches of 2
    assert refit["steps"] == refit_steps(4, 8, 12, 2) == 6


def test_cli_finetune_keeps_the_home_encoder_when_no_step_beats_the_base(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config_before = (home / "config.json").read_text()
    monkeypatch.setattr(train_module, "_validate", lambda *args: 0.25)  # no step ever better
    runner = CliRunner()
    plain = [arg for arg in ARGS if arg != "--json"]
    done = runner.invoke(app, ["finetune", "--home", str(home), *plain])
    assert done.exit_code == 0, done.output
    assert "so the home's encoder is all-MiniLM-L6-v2" in done.stdout
    assert "the home's encoder is now" not in done.stdout
    assert (home / "config.json").read_text() == config_before

    again = runner.invoke(app, ["finetune", "--home", str(home), *ARGS])  # resumes, re-exports
    assert again.exit_code == 0, again.output
    result = json.loads(again.stdout)
    assert result["finished"] and result["metrics"]["best_step"] == 0
    assert result["metrics"]["beats_base"] is False and not result["encoder_set"]
    assert result["encoder_kept"] == DEFAULT_ENCODER == Settings.load(home).encoder.model
    assert Path(result["model_folder"]).is_dir()  # still written, for a user who wants it

    # A home an older shoplm switched to this very model goes back to the base.
    settings = Settings.load(home)
    settings.encoder.model = result["model_folder"]
    settings.save(home)
    third = runner.invoke(app, ["finetune", "--home", str(home), *ARGS])
    assert third.exit_code == 0, third.output
    assert json.loads(third.stdout)["encoder_kept"] == DEFAULT_ENCODER
    assert Settings.load(home).encoder.model == DEFAULT_ENCODER


CLICKS = {  # query -> (item, event type) pairs a shopper acted on from its results
    "cheap smartphone": [("p2", "purchase")],
    "acme phone": [("p1", "click"), ("p3", "add_to_cart")],
    "phone case": [("p3", "purchase")],
    "screen protector": [("p4", "purchase")],
    "noise cancelling headphones": [("h1", "purchase")],
    "earbuds": [("h2", "click")],
    "studio headphones": [("h3", "add_to_cart")],
    "espresso machine": [("c1", "purchase")],
    "coffee grinder": [("c2", "click"), ("c2", "purchase")],
    "coffee beans": [("c3", "purchase")],
    "wireless audio": [("h2", "click"), ("h1", "click")],
    "kitchen coffee": [("c1", "click"), ("c3", "click")],
}


def _click_log() -> list[dict]:
    events = []
    for n, (query, acted) in enumerate(CLICKS.items()):
        user = f"s{n}"
        events.append({"user_id": user, "type": "search", "query": query, "timestamp": n * 100})
        for k, (item, kind) in enumerate(acted, start=1):
            events.append(
                {"user_id": user, "item_id": item, "type": kind, "query": query,
                 "timestamp": n * 100 + k}
            )  # fmt: skip
    return events


def test_cli_finetune_for_search_on_the_click_log(
    tmp_path: Path,
    tiny_items: list[dict],
    tiny_events: list[dict],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = _tiny_home(tmp_path, tiny_items, [*tiny_events, *_click_log()])
    rising = itertools.count()
    monkeypatch.setattr(train_module, "_validate", lambda *args: float(next(rising)))
    runner = CliRunner()
    done = runner.invoke(app, ["finetune", "--home", str(home), "--task", "search", *ARGS])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["task"] == "search" and result["data"]["kind"] == "search"
    # 12 queries, a tenth (one) validates.  They name 15 distinct (query, item) pairs (the
    # grinder's click and purchase are one pair); the validating query holds back 1 or 2.
    assert result["data"]["valid_cases"] == 1 and result["data"]["pairs"] in (13, 14)
    assert result["config"]["scale"] == 20.0  # the search task's own default
    folder = Path(result["model_folder"])
    assert folder.is_relative_to(home.resolve() / "finetune" / "default" / "search" / "lora")
    assert result["encoder_set"] and Settings.load(home).encoder.model == str(folder)

    fitted = runner.invoke(app, ["fit", "--home", str(home), "--json"])
    assert fitted.exit_code == 0, fitted.output
    with Engine.open(home) as engine:
        assert engine.fitted().encoder_id == result["model_id"]
        assert engine.search("coffee grinder", k=1)[0].item_id == "c2"

    # The behaviour run has its own folder: it does not resume the search run's checkpoint.
    behaviour = runner.invoke(app, ["finetune", "--home", str(home), "--no-use", *ARGS])
    assert behaviour.exit_code == 0, behaviour.output
    assert json.loads(behaviour.stdout)["resumed_at"] == 0  # trained from the start
    assert (home / "finetune" / "default" / "lora" / "manifest.json").is_file()


def test_cli_finetune_for_search_needs_a_click_log(home: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["finetune", "--home", str(home), "--task", "search"])
    assert done.exit_code == 2
    assert "has 0 queries with a clicked catalog item" in done.output
    assert "at least 10" in done.output
    window = runner.invoke(
        app, ["finetune", "--home", str(home), "--task", "search", "--window", "2"]
    )
    assert window.exit_code == 2 and "window applies to task recommend" in window.output
    task = runner.invoke(app, ["finetune", "--home", str(home), "--task", "ads"])
    assert task.exit_code == 2 and "task must be recommend or search" in task.output


def test_cli_finetune_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(app, ["finetune", "--home", str(tmp_path / "h")])
    assert empty.exit_code == 2 and "no items" in empty.output
    bad = runner.invoke(app, ["finetune", "--home", str(tmp_path / "h"), "--mode", "half"])
    assert bad.exit_code == 2 and "--mode" in bad.output
    home = ["finetune", "--home", str(tmp_path / "h")]
    word = runner.invoke(app, [*home, "--strengths", "0.5,half"])
    assert word.exit_code == 2 and "--strengths" in word.output and "half" in word.output
    far = runner.invoke(app, [*home, "--strengths", "3"])
    assert far.exit_code == 2 and "strengths must lie in (0, 2.0]" in far.output
    both = runner.invoke(app, [*home, "--refit", "--strengths", "0.5"])
    assert both.exit_code == 2 and "a refit trains on" in both.output
    none = runner.invoke(app, [*home, "--lora-targets", " , "])
    assert none.exit_code == 2 and "--lora-targets names no module" in none.output


def test_cli_finetune_top_blocks_with_the_catalog_bank(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = ["--lora-layers", "2", "--bank-every", "2", "--max-positive-rank", "4", "--no-use"]
    options += ["--symmetric", "--strengths", "0.5", "--popularity-correction"]
    options += ["--lora-targets", "query,value,dense", "--patience", "3", "--max-valid", "2"]
    done = CliRunner().invoke(app, ["finetune", "--home", str(home), *ARGS, *options])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["finished"] and not result.get("encoder_set")
    assert result["lora"]["layers"] == 2 and result["config"]["bank_every"] == 2
    assert result["config"]["symmetric"] and result["config"]["patience"] == 3
    assert result["config"]["popularity_correction"]
    assert result["config"]["lora_targets"] == ["query", "value", "dense"]
    assert result["data"]["valid_cases"] == 2  # a seeded 2 of the 4 users who validate
    trials = result["metrics"]["strength_trials"]
    assert [t["strength"] for t in trials] == [0.5, 1.0]
    assert result["metrics"]["strength"] in (0.5, 1.0)
    assert result["config"]["scale"] == 5.0  # behaviour pairs: the softer default
    kept = result["positive_rank_filter"]
    assert kept["pairs_before"] == 8 and kept["max_rank"] == 4
    assert 0 < kept["pairs_kept"] == result["data"]["pairs"] <= 8
    assert Settings.load(home).encoder.model == DEFAULT_ENCODER

    # The home now on the tuned folder: the rerun still ranks with the base it tunes from, so
    # it keeps the same pairs and resumes the finished run instead of training anew.
    settings = Settings.load(home)
    settings.encoder.model = result["model_folder"]
    settings.save(home)
    ranked_with: list[str] = []

    def recording_filter(data: Any, encode: Any, *args: Any) -> dict[str, Any]:
        ranked_with.append(encode.__self__.settings.model)  # a TextEncoder's bound method
        return keep_within_rank(data, encode, *args)

    monkeypatch.setattr(home_module, "keep_within_rank", recording_filter)
    again = CliRunner().invoke(app, ["finetune", "--home", str(home), *ARGS, *options])
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    assert second["positive_rank_filter"] == kept and second["data_hash"] == result["data_hash"]
    assert second["resumed_at"] == result["steps"] and second["model_id"] == result["model_id"]
    assert ranked_with == [DEFAULT_ENCODER]


def test_cli_finetune_names_an_unknown_lora_target(home: Path) -> None:
    done = CliRunner().invoke(
        app, ["finetune", "--home", str(home), *ARGS, "--lora-targets", "query,querry"]
    )
    assert done.exit_code == 2, done.output
    assert "LoRA target 'querry' names no linear layer" in done.output, done.output
