"""One run scores content-frozen and content-lora under the recommendation protocol."""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from shoplm.cli import app
from shoplm.config import DEFAULT_ENCODER
from shoplm.engine import Engine
from shoplm.evaluation import finetune_eval as finetune_eval_module
from shoplm.evaluation import recommend_eval
from shoplm.evaluation.finetune_eval import (
    evaluate_finetune,
    parse_half_life,
    profile_half_life,
    scored_methods,
    slice_gains,
)
from shoplm.finetune import train as train_module
from shoplm.finetune.refit import refit_steps
from shoplm.text.encoder import resolve_model

# Full-ranking metrics cut at 20, so the catalog needs more than 20 items.
TITLES = [
    f"{colour} {thing}"
    for colour in ("red", "blue", "black", "green")
    for thing in ("stapler", "gel pens", "paper ream", "toner", "desk lamp", "mug")
]


def _write(path: Path, rows: list[dict]) -> None:
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))


def test_shoplm_evaluate_finetune_scores_frozen_and_lora_in_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLM_CACHE_DIR", str(tmp_path / "cache"))
    # A user's own base model (here a copy of the bundled one), named by SHOPLM_ENCODER: the
    # frozen score, the rank filter and the tuned model's start must all be that folder.
    base = tmp_path / "my-base"
    shutil.copytree(resolve_model(DEFAULT_ENCODER), base)
    monkeypatch.setenv("SHOPLM_ENCODER", str(base))
    encoders_scored: list[str] = []  # the encoder of each engine the scoring opens
    caches_used: list[Path] = []  # and its vector cache
    real_open = recommend_eval.open_temp_engine

    def recording_open(*args: Any, **kwargs: Any) -> Engine:
        engine = real_open(*args, **kwargs)
        encoders_scored.append(engine.settings.encoder.model)
        caches_used.append(Path(engine._embedding_cache_path))
        return engine

    monkeypatch.setattr(recommend_eval, "open_temp_engine", recording_open)
    data = tmp_path / "office"
    data.mkdir()
    _write(
        data / "items.jsonl.gz",
        [
            {"item_id": n, "title": t, "description": "", "brand": "", "categories": "Office"}
            for n, t in enumerate(TITLES)
        ],
    )
    _write(
        data / "sequences.jsonl.gz",
        [{"user_id": u, "item_ids": [(u + 5 * k) % 24 for k in range(5)]} for u in range(8)],
    )
    # --threads changes this process's torch threads: restored below.
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    threads_before = torch.get_num_threads()
    options = "--task recommend --modes lora --max-seq-length 16 --batch-size 4 --no-tune --json"
    # Rank 24 of 24 items keeps every pair: the filter and vector negatives are wired in.
    options += " --max-positive-rank 24 --negatives vector --symmetric --strengths 0.5"
    options += " --popularity-correction --models sasrec-text"
    args = ["--data", str(data), "--workdir", str(tmp_path / "work"), "--threads", "1"]
    try:
        invoked = CliRunner().invoke(app, ["evaluate", "finetune", *args, *options.split()])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads_before)
    assert invoked.exit_code == 0, invoked.output
    result = json.loads(invoked.stdout)
    # sasrec-text learns on the item vectors: scored with each encoder, content beside it
    assert set(result["metrics"]) == {
        "content-frozen",
        "content-lora",
        "sasrec-text-frozen",
        "sasrec-text-lora",
    }
    assert "NDCG@10" in result["metrics"]["content-lora"]
    assert result["paired"]["baselines"] == {
        "content-lora": "content-frozen",
        "sasrec-text-lora": "sasrec-text-frozen",
    }
    sequential = result["paired"]["models"]["sasrec-text-lora"]
    sequential_shift = (
        result["metrics"]["sasrec-text-lora"]["NDCG@10"]
        - result["metrics"]["sasrec-text-frozen"]["NDCG@10"]
    )
    assert sequential["difference"] == pytest.approx(sequential_shift, abs=1e-5)
    assert result["paired"]["slices"]["cold_items"]["models"]["sasrec-text-lora"] == sequential
    reports = result["model_reports"]  # what sasrec-text chose on validation, per encoder
    assert reports["sasrec-text-frozen"]["best_epoch"] >= 1 and "sasrec-text-lora" in reports
    # On the tuned encoder sasrec-text reads the base's vectors (its default), so it ranks
    # as it does on the frozen encoder; --params gives it the tuned ones (below).
    assert reports["sasrec-text-lora"]["text_vectors"] == "base"
    assert sequential["difference"] == 0 and sequential["better"] == sequential["worse"] == 0
    assert result["n_users"] == 8 and "leave-one-out" in result["protocol"]
    lora = result["training"]["lora"]
    assert lora["torch_threads"] == 1  # the training child kept the cap
    assert 0 < lora["trainable_params"] < lora["total_params"] and lora["peak_rss_mb"] > 0
    assert result["training"]["frozen"]["trainable_params"] == 0
    gain = result["paired"]["models"]["content-lora"]  # user by user, against the frozen
    assert result["paired"]["baseline"] == "content-frozen" and gain["n"] == 8
    metrics = result["metrics"]
    shift = metrics["content-lora"]["NDCG@10"] - metrics["content-frozen"]["NDCG@10"]
    assert gain["difference"] == pytest.approx(shift, abs=1e-5) and gain["se"] >= 0
    # Every test item here was taken by at most 5 training users: all 8 users are cold.
    slices = result["paired"]["slices"]
    assert slices["cold_items"]["max_training_users"] == 5
    assert slices["cold_items"]["models"]["content-lora"] == gain
    assert slices["other_items"] == {"min_training_users": 6, "models": {}}
    # ...and split again by whether the test step (newest item -> test item) was in training
    seen = slices["seen_transitions"]["models"].get("content-lora", {"n": 0})["n"]
    new = slices["new_transitions"]["models"].get("content-lora", {"n": 0})["n"]
    assert seen + new == 8
    # 8 users x (5 - 2 held out - 1) pairs: neither the test nor the validation item is used.
    assert result["finetune"]["pairs"] == 16
    assert result["finetune"]["positive_rank_filter"]["pairs_kept"] == 16
    assert result["finetune"]["hard_negatives"]["source"] == "vector"
    assert result["finetune"]["hard_negatives"]["pairs_with_negatives"] == 16
    run = result["finetune"]["runs"]["lora"]
    assert run["model_id"].startswith("shoplm-recommend-lora@") and run["config"]["symmetric"]
    assert [t["strength"] for t in run["strength_trials"]] == [0.5, 1.0]
    assert run["strength"] in (0.5, 1.0) and run["config"]["strengths"] == [0.5]
    assert run["config"]["popularity_correction"]
    assert run["config"]["scale"] == 5.0  # --scale left out: the recommendation default
    assert result["base_model"] == run["base_model"] == str(base)
    assert encoders_scored[0] == str(base) and encoders_scored[1] != str(base)
    # The frozen vectors stay in the machine's cache; the tuned model's go with the run.
    assert caches_used[0].is_relative_to(tmp_path / "cache")
    assert caches_used[1] == tmp_path / "work" / "tuned-embeddings.sqlite"
    assert os.environ["SHOPLM_CACHE_DIR"] == str(tmp_path / "cache")  # never switched
    assert os.environ["SHOPLM_ENCODER"] == str(base)  # the user's setting is left as it was
    # Validation weighs histories the way the frozen content model was fitted (untuned: 5).
    assert result["finetune"]["notes"]["half_life"] == 5.0
    assert "half-life 5.0 (the frozen content model's choice on it)" in result["protocol"]

    # The same command with --refit instead of --strengths, in a fresh workdir and in this
    # process, where validation rises at every check (the tiny run's own keeps the base), so
    # the last step is chosen and the refit trains.
    scores = itertools.count()
    monkeypatch.setattr(train_module, "_validate", lambda *args: float(next(scores)))

    def in_process(data: Any, config: Any, out: Path, base: str, platform: str) -> Any:
        return train_module.train_encoder(data, config, out, base=base, platform=platform)

    monkeypatch.setattr(finetune_eval_module, "run_in_child", in_process)
    refit_options = options.replace("--strengths 0.5", "--refit").split()
    refit_options += ["--params", '{"sasrec-text":{"text_vectors":"home"}}']
    refit_args = [*args[:2], "--workdir", str(tmp_path / "refit"), *args[4:]]
    torch_threads = torch.get_num_threads()
    try:
        again = CliRunner().invoke(app, ["evaluate", "finetune", *refit_args, *refit_options])
    finally:
        torch.set_num_threads(torch_threads)
    assert again.exit_code == 0, again.output
    refitted = json.loads(again.stdout)
    refit = refitted["finetune"]["runs"]["lora"]["refit"]
    assert refit["pairs"] == 16 and refit["held_out_pairs"] == 8  # each user's newest item
    assert refit["chosen_step"] == refitted["finetune"]["runs"]["lora"]["best_step"] == 4
    assert refit["steps"] == refit_steps(4, 16, 24, 4) == 6
    assert refitted["finetune"]["hard_negatives"]["held_out_pairs_with_negatives"] == 8
    assert refitted["training"]["lora"]["refit_seconds"] > 0
    assert refitted["model_reports"]["sasrec-text-lora"]["text_vectors"] == "home"
    assert refitted["finetune"]["data_hash"] == result["finetune"]["data_hash"]


def test_valid_half_life_option_and_the_frozen_models_choice() -> None:
    assert parse_half_life("tuned") == "tuned"
    assert parse_half_life("none") is None
    assert parse_half_life("2.5") == 2.5
    for bad in ("-1", "soon"):
        with pytest.raises(argparse.ArgumentTypeError, match="--valid-half-life"):
            parse_half_life(bad)
    frozen = {"model_params": {"content": {"half_life": 1.0, "token_weight": 0.5}}}
    assert profile_half_life("tuned", frozen) == 1.0
    assert profile_half_life(3.0, frozen) == 3.0
    assert profile_half_life(None, frozen) is None
    assert profile_half_life("tuned", {}) == 5.0  # no content fit reported: the default


def test_a_rank_filter_below_one_fails_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_positive_rank must be >= 1"):
        evaluate_finetune(tmp_path / "no-such-data", max_positive_rank=0)


def test_slice_gains_split_the_users_into_each_slice_and_the_rest() -> None:
    frozen, tuned = [0.0, 1.0, 0.5, 0.0, 0.2], [1.0, 0.0, 0.5, 0.5, 0.2]
    gains = slice_gains({"cold_items": [0, 3, 4], "seen_transitions": [1, 2]}, frozen, tuned)
    assert gains["cold_items"]["n"] == 3 and gains["cold_items"]["difference"] == 0.5
    assert (gains["cold_items"]["better"], gains["cold_items"]["worse"]) == (2, 0)
    assert gains["other_items"]["n"] == 2 and gains["other_items"]["difference"] == -0.5
    assert gains["seen_transitions"] == gains["other_items"]  # the same two users
    assert gains["new_transitions"] == gains["cold_items"]
    # a part of one user has no spread to pair on, so it is left out
    assert set(slice_gains({"cold_items": [0, 1, 2, 3]}, frozen, tuned)) == {"cold_items"}


def test_scored_methods_take_only_recommenders_that_read_the_item_vectors() -> None:
    assert scored_methods("recommend", ["sasrec-text"]) == ["content", "sasrec-text"]
    assert scored_methods("recommend", ["hybrid", "content"]) == ["content", "hybrid"]
    assert scored_methods("search", ["content"]) == ["dense"]
    with pytest.raises(ValueError, match=r"\['als'\] do not read the encoder's item vectors"):
        scored_methods("recommend", ["content", "als"])
    with pytest.raises(ValueError, match="search scores dense retrieval only"):
        scored_methods("search", ["sasrec-text"])
