"""The shoplm command: demo end to end, JSON output, friendly errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplm.cli import app
from shoplm.store import SearchClick

runner = CliRunner()


def test_demo_prints_search_and_recommendations(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--home", str(home), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ingest"][0]["stored"] > 100
    phone_titles = [h["item"]["title"].lower() for h in payload["search"]["phone"]]
    assert any("phone" in t for t in phone_titles[:3])
    assert len(payload["recommend"]["hits"]) == 5
    assert payload["similar"]["hits"]

    again = runner.invoke(app, ["search", "coffee", "--home", str(home), "-k", "3", "--json"])
    assert again.exit_code == 0, again.output
    assert len(json.loads(again.stdout)["hits"]) == 3

    text = runner.invoke(app, ["recommend", payload["recommend"]["user_id"], "--home", str(home)])
    assert text.exit_code == 0 and "recommendations for user" in text.stdout


def test_the_best_recommenders_fit_and_serve_the_hybrid(tmp_path: Path) -> None:
    from shoplm.datasets import sample_paths

    home = ["--home", str(tmp_path / "best")]
    made = runner.invoke(app, ["init", *home, "--recommenders", "best", "--json"])
    assert made.exit_code == 0, made.output
    recommend = json.loads(made.stdout)["settings"]["recommend"]
    assert "hybrid" in recommend["models"] and recommend["blend"] == {"hybrid": 1.0}
    items, events = sample_paths()
    for path, kind in ((items, "items"), (events, "events")):
        loaded = runner.invoke(app, ["ingest", str(path), "--kind", kind, *home])
        assert loaded.exit_code == 0, loaded.output
    fitted = runner.invoke(app, ["fit", *home, "--json"])
    assert fitted.exit_code == 0, fitted.output
    assert {"als", "sasrec-text", "hybrid"} <= set(json.loads(fitted.stdout)["models"])
    answer = runner.invoke(app, ["recommend", "U001", "-k", "5", *home, "--json"])
    assert answer.exit_code == 0, answer.output
    hits = json.loads(answer.stdout)["hits"]
    assert len(hits) == 5 and all("(hybrid)" in hit["reason"] for hit in hits)
    unknown = runner.invoke(app, ["init", "--home", str(tmp_path / "x"), "--recommenders", "good"])
    assert unknown.exit_code == 2 and "choose from fast, best" in unknown.output
    assert not (tmp_path / "x").exists()  # nothing made for a bad choice


def test_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["search", "phone", "--home", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "not fitted yet" in result.output
    bad_map = runner.invoke(app, ["ingest", "x.csv", "--map", "oops", "--home", str(tmp_path)])
    assert bad_map.exit_code == 2 and "SOURCE=FIELD" in bad_map.output
    evaluate = ["evaluate", "recommend", "--data", str(tmp_path)]
    bad_params = runner.invoke(app, [*evaluate, "--params", '{"content": 0.5}'])
    assert bad_params.exit_code == 2 and "--params must map model names" in bad_params.output


def test_init_keeps_a_local_encoder_folder_by_its_absolute_path(
    tiny_base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(tiny_base).parent)
    home = ["--home", str(tmp_path / "home")]
    result = runner.invoke(app, ["init", *home, "--encoder", Path(tiny_base).name, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["settings"]["encoder"]["model"] == str(Path(tiny_base))
    missing = runner.invoke(app, ["init", *home, "--encoder", "no-such-folder"])
    assert missing.exit_code == 2 and "is neither" in missing.output


def test_every_command_has_help() -> None:
    for command in [
        "init",
        "ingest",
        "fit",
        "search",
        "recommend",
        "similar",
        "evaluate",
        "demo",
        "stats",
    ]:
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, command
        assert "--home" in result.stdout or command == "evaluate"


def test_help_keeps_bracketed_words() -> None:
    """Help texts are plain text: rich markup would swallow "[default: ...]" as a tag."""
    for command in (["fit"], ["finetune"], ["heads", "train"], ["keys", "create"]):
        result = runner.invoke(app, [*command, "--help"], terminal_width=200)
        assert result.exit_code == 0, command
        assert "[default: $SHOPLM_HOME or ./shoplm-home]" in result.stdout, command
    finetune = runner.invoke(app, ["finetune", "--help"], terminal_width=200).stdout
    assert "Validate every N steps [each epoch]." in finetune


def test_fit_says_what_it_learned_from_the_click_log(
    click_log_home: Path, click_log: list[SearchClick], favour_search: Callable[[bool], None]
) -> None:
    favour_search(True)
    done = runner.invoke(app, ["fit", "--home", str(click_log_home), "--models", "popularity"])
    assert done.exit_code == 0, done.output
    queries = len({c.query for c in click_log})
    held_out = round(queries * 0.2)
    assert (
        f"search, {queries} queries with clicks: the learned model validated higher "
        f"(nDCG@10 on {held_out} held-out queries: default 0.5000, learned 0.6000)"
    ) in done.stdout
