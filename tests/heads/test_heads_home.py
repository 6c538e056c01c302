"""Heads trained on a home's labelled file: read, split, trained, saved, listed, served."""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from shoplm.engine import Engine
from shoplm.heads import HeadConfig, HeadDataError, LoraSettings, TaskHead, TaskKind
from shoplm.heads.home import (
    HomeHeads,
    UnknownHeadError,
    kept_mode,
    list_heads,
    read_labelled,
    sample_rows,
    task_for,
    train_home_head,
)
from shoplm.heads.spec import Examples

PROBE = HeadConfig(mode="probe", max_seq_length=32, seed=3)
LORA = HeadConfig(
    mode="lora", epochs=1, max_seq_length=16, batch_size=8, seed=3,
    lora=LoraSettings(r=4, alpha=8, layers=1),
)  # fmt: skip


def test_read_labelled_skips_empty_cells_and_names_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("text,label\ngood pen,positive\n,negative\nbad pen,\nold pen,negative\n")
    read = read_labelled(path, "text", "label")
    assert read.examples.texts == ["good pen", "old pen"]
    assert read.row_numbers == [1, 4] and read.skipped == [2, 3]
    with pytest.raises(HeadDataError, match=r"row 1 has no column 'sentiment'"):
        read_labelled(path, "text", "sentiment")
    path.write_text("text,label\n,positive\n")
    with pytest.raises(HeadDataError, match="no row has both a text and a 'label'"):
        read_labelled(path, "text", "label")
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(
        '{"title": "Nice", "text": "good  pen", "label": 4.0}\n'
        '{"title": null, "text": "bad pen", "label": 1}\n'
        '{"title": "", "text": "", "label": 1}\n'
    )
    read = read_labelled(jsonl, ["title", "text"], "label")
    assert read.examples.texts == ["Nice. good pen", "bad pen"] and read.skipped == [3]
    assert read.examples.targets == ["4", "1"]


def test_task_for_orders_labels_and_checks_the_kind() -> None:
    assert task_for("t", "classification", (), ["10", "2", "9"]).labels == ("2", "9", "10")
    assert task_for("t", "classification", ("b", "a"), ["a", "b"]).labels == ("b", "a")
    assert task_for("t", "regression", (), ["1.5"]).kind is TaskKind.REGRESSION
    with pytest.raises(ValueError, match="needs its labels in order"):
        task_for("t", "ordinal", (), ["1", "2"])
    with pytest.raises(ValueError, match="takes no labels"):
        task_for("t", "regression", ("1",), ["1"])
    grouped = task_for("t", "classification", ("1", "2", "3"), ["1"], ("bad", "bad", "good"))
    assert grouped.reported_labels == ("bad", "good")
    with pytest.raises(ValueError, match="give the labels too"):
        task_for("t", "classification", (), ["1"], ("bad", "good"))
    with pytest.raises(ValueError, match="head kind 'sentiment'"):
        task_for("t", "sentiment", (), ["1"])


def test_sample_rows_is_a_seeded_subset_in_file_order() -> None:
    examples = Examples([f"text {i}" for i in range(30)], ["a", "b"] * 15)
    picked = sample_rows(examples, 12, seed=5)
    assert len(picked) == 12 and picked.texts == sorted(picked.texts, key=lambda t: int(t[5:]))
    assert sample_rows(examples, 12, seed=5).texts == picked.texts  # the seed repeats it
    assert sample_rows(examples, 12, seed=6).texts != picked.texts
    assert sample_rows(examples, None, seed=5) is examples
    assert sample_rows(examples, 100, seed=5) is examples
    with pytest.raises(ValueError, match="at least 10"):
        sample_rows(examples, 9, seed=5)


def test_a_probe_head_trains_saves_and_predicts(tmp_path: Path, labelled_reviews: Path) -> None:
    home = tmp_path / "home"
    report = train_home_head(home, "mood", labelled_reviews, PROBE)
    assert report["rows"] == {"train": 28, "valid": 4, "test": 8}  # 70/10/20 of each class
    assert report["skipped_rows"] == {"count": 0, "first": []}
    assert list(report["scores"]) == ["probe"] and report["mode"] == "probe"
    assert report["scores"]["probe"]["test"]["accuracy"] >= 0.75  # the words give it away
    listed = list_heads(home)
    assert [h["name"] for h in listed] == ["mood"] and listed[0]["task"]["kind"] == "classification"
    assert listed[0]["metrics"]["test"] == report["scores"]["probe"]["test"]

    texts = ["the desk lamp: excellent quality", "waste of money"]
    answers = HomeHeads(home).predict("mood", texts)
    assert [a["label"] for a in answers] == ["positive", "negative"]
    for answer in answers:
        assert set(answer["probabilities"]) == {"negative", "positive"}
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
    with pytest.raises(UnknownHeadError, match=r"no head 'gloom' in this home \(heads: \['mood'"):
        HomeHeads(home).predict("gloom", ["x"])


def test_lora_head_is_compared_with_the_probe_in_the_same_run(
    tmp_path: Path, labelled_reviews: Path
) -> None:
    report = train_home_head(tmp_path / "home", "mood", labelled_reviews, LORA, keep="mode")
    assert list(report["scores"]) == ["lora", "probe"] and report["mode"] == "lora"
    lora, probe = report["scores"]["lora"], report["scores"]["probe"]
    assert lora["trainable_parameters"] > probe["trainable_parameters"]
    assert set(lora["test"]) == set(probe["test"]) and "macro_f1" in lora["test"]
    (listed,) = list_heads(tmp_path / "home")
    assert listed["mode"] == "lora" and listed["metrics"]["test"] == lora["test"]
    assert listed["metrics"]["compared"] == {"lora": lora["test"], "probe": probe["test"]}
    assert listed["metrics"]["kept"] == {"mode": "lora", "asked": "lora", "rule": "mode"}
    assert listed["metrics"]["rows"] == report["rows"]


def test_the_head_that_validates_higher_is_the_one_saved(
    tmp_path: Path, labelled_reviews: Path
) -> None:
    """A LoRA head given a single update (one batch holds every row; no retry) validates
    below the probe, so the probe is saved and served, and the report says which was asked."""
    stuck = replace(LORA, batch_size=64, collapse_retries=0, class_weights="none")
    home = tmp_path / "home"
    report = train_home_head(home, "mood", labelled_reviews, stuck)
    lora, probe = report["scores"]["lora"], report["scores"]["probe"]
    assert probe["validation_score"] > lora["validation_score"]
    assert report["mode"] == "probe" and report["asked_mode"] == "lora"
    (listed,) = list_heads(home)
    assert listed["mode"] == "probe" and listed["metrics"]["test"] == probe["test"]
    assert listed["metrics"]["kept"] == {"mode": "probe", "asked": "lora", "rule": "better"}
    answers = HomeHeads(home).predict("mood", ["the desk lamp: excellent quality"])
    assert answers[0]["label"] == "positive"
    with pytest.raises(ValueError, match="keep must be one of"):
        train_home_head(home, "mood", labelled_reviews, stuck, keep="best")


def test_kept_mode_prefers_the_higher_validation_and_the_asked_mode_on_ties() -> None:
    assert kept_mode({"lora": 0.61, "probe": 0.74}, "lora") == "probe"
    assert kept_mode({"lora": 0.74, "probe": 0.61}, "lora") == "lora"
    assert kept_mode({"lora": 0.7, "probe": 0.7}, "lora") == "lora"
    assert kept_mode({"lora": -0.42}, "lora") == "lora"  # minus a log loss: higher is better


def test_a_failed_retrain_keeps_the_saved_head_and_a_new_one_is_served(
    tmp_path: Path, labelled_reviews: Path
) -> None:
    home = tmp_path / "home"
    train_home_head(home, "mood", labelled_reviews, PROBE)
    heads = HomeHeads(home)
    first = heads.get("mood")
    broken = tmp_path / "broken.csv"
    broken.write_text(labelled_reviews.read_text() + "a pen,so-so,3\n")
    with pytest.raises(HeadDataError, match=r"row 41: label 'so-so' is not one of \['negative'"):
        train_home_head(home, "mood", broken, PROBE, labels=("negative", "positive"))
    assert heads.get("mood") is first  # untouched, still the cached one
    assert [p.name for p in (home / "heads").iterdir()] == ["mood"]

    train_home_head(home, "mood", labelled_reviews, PROBE, label_column="stars", kind="ordinal",
                    labels=("1", "2", "3", "4", "5"))  # fmt: skip
    stars = heads.predict("mood", ["these pens: love it"])
    assert heads.get("mood") is not first and heads.get("mood").spec.kind is TaskKind.ORDINAL
    assert stars[0]["label"] in {"1", "2", "3", "4", "5"} and 0 <= stars[0]["value"] <= 4


def test_regression_and_bad_names(tmp_path: Path, labelled_reviews: Path) -> None:
    home = tmp_path / "home"
    report = train_home_head(home, "stars", labelled_reviews, PROBE, label_column="stars",
                             kind="regression")  # fmt: skip
    assert "rmse" in report["scores"]["probe"]["test"]
    (answer,) = HomeHeads(home).predict("stars", ["the office chair: very happy with it"])
    assert set(answer) == {"value"} and 1.0 < answer["value"] < 6.0
    with pytest.raises(ValueError, match=r"head name '\.\./up'"):
        train_home_head(home, "../up", labelled_reviews, PROBE)


def test_engine_serves_the_homes_heads(tmp_path: Path, labelled_reviews: Path) -> None:
    home = tmp_path / "home"
    train_home_head(home, "mood", labelled_reviews, PROBE)
    with Engine.open(home) as engine:
        assert engine.heads.predict("mood", ["terrible quality"])[0]["label"] == "negative"
        assert engine.heads.predict("mood", []) == []


def test_a_regression_target_that_is_no_number_names_its_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("text,label\ngood pen,4\n,2\nbad pen,two\n")
    with pytest.raises(HeadDataError, match=r"rows.csv: row 3: 'two' is not a number"):
        train_home_head(tmp_path / "home", "stars", path, PROBE, kind="regression")
    assert not (tmp_path / "home" / "heads").exists()


def test_requests_arriving_together_load_a_head_once(
    tmp_path: Path, labelled_reviews: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    train_home_head(home, "mood", labelled_reviews, PROBE)
    loads: list[Path] = []
    real_load = TaskHead.load

    def slow_load(folder: Path, device: str | None = None, bases=None) -> TaskHead:
        loads.append(folder)
        time.sleep(0.2)  # long enough for every thread to ask before the first load ends
        return real_load(folder, device, bases)

    monkeypatch.setattr(TaskHead, "load", slow_load)
    heads = HomeHeads(home)
    with ThreadPoolExecutor(max_workers=4) as pool:
        served = list(pool.map(lambda _: heads.get("mood"), range(4)))
    assert len(loads) == 1 and all(head is served[0] for head in served)


def test_a_loaded_head_answers_while_another_head_loads(
    tmp_path: Path, labelled_reviews: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    for name in ("mood", "gloom"):
        train_home_head(home, name, labelled_reviews, PROBE)
    heads = HomeHeads(home)
    mood = heads.get("mood")
    started, release = threading.Event(), threading.Event()
    real_load = TaskHead.load

    def held_load(folder: Path, device: str | None = None, bases=None) -> TaskHead:
        started.set()
        release.wait(timeout=30)  # "gloom" stays loading until the test lets it go
        return real_load(folder, device, bases)

    monkeypatch.setattr(TaskHead, "load", held_load)
    with ThreadPoolExecutor(max_workers=2) as pool:
        try:
            loading = pool.submit(heads.get, "gloom")
            assert started.wait(timeout=30)
            assert pool.submit(heads.get, "mood").result(timeout=5) is mood
        finally:
            release.set()
        assert loading.result(timeout=60).spec.name == "gloom"


def test_a_home_lets_go_of_heads_gone_from_disk_and_of_bases_no_head_is_on(
    tmp_path: Path, labelled_reviews: Path, tiny_base: str
) -> None:
    other_base = tmp_path / "other-base"
    shutil.copytree(tiny_base, other_base)
    home = tmp_path / "home"
    on_tiny = replace(PROBE, base_model=tiny_base)
    on_other = replace(PROBE, base_model=str(other_base))
    train_home_head(home, "mood", labelled_reviews, on_tiny)
    train_home_head(home, "stars", labelled_reviews, on_other, label_column="stars")
    heads = HomeHeads(home)
    heads.get("mood"), heads.get("stars")
    assert heads.bases.models == {tiny_base, str(other_base)}

    shutil.rmtree(home / "heads" / "stars")  # removed by hand
    with pytest.raises(UnknownHeadError, match=r"no head 'stars' in this home \(heads: \['mood'"):
        heads.get("stars")
    assert heads.bases.models == {tiny_base}

    train_home_head(home, "mood", labelled_reviews, on_other)  # retrained on another base
    assert heads.get("mood").config.base_model == str(other_base)
    assert heads.bases.models == {str(other_base)}
