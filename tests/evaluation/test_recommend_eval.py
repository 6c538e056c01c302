"""The recommendation evaluation on a tiny Amazon-Office-shaped dataset written here."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplm.cli import app
from shoplm.evaluation.recommend_eval import evaluate_recommend, seen_transitions

KINDS = {
    "pen": ("Inkwell", "Office Products, Writing Supplies, Pens"),
    "paper": ("Sheetco", "Office Products, Paper, Copy Paper"),
    "phone": ("Ringer", "Office Products, Office Electronics, Telephones"),
}
MODELS = ["popularity", "itemknn", "content", "sasrec"]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode(), mtime=0))


def write_office(folder: Path, test_offset: int) -> Path:
    """30 items in 3 kinds; each user walks 5 items of one kind in order.

    ``test_offset`` moves only each user's last (test) item, so two folders differ in their
    test items alone.
    """
    folder.mkdir(parents=True, exist_ok=True)
    kinds = list(KINDS)
    items = [
        {
            "item_id": n,
            "title": f"{KINDS[kinds[n % 3]][0]} {kinds[n % 3]} model {n}",
            "description": "",
            "brand": KINDS[kinds[n % 3]][0],
            "categories": KINDS[kinds[n % 3]][1],
        }
        for n in range(30)
    ]
    sequences = []
    for user in range(36):
        own = [n for n in range(30) if n % 3 == user % 3]
        start = user // 3
        walk = [own[(start + i) % 10] for i in range(4)]
        walk.append(own[(start + 4 + test_offset) % 10])
        sequences.append({"user_id": user, "item_ids": walk})
    write_jsonl(folder / "items.jsonl.gz", items)
    write_jsonl(folder / "sequences.jsonl.gz", sequences)
    return folder


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = write_office(tmp_path_factory.mktemp("office") / "amazon_office", test_offset=0)
    return evaluate_recommend(folder, models=MODELS, ks=(5, 10))


def test_every_model_is_scored_in_one_run(result: dict) -> None:
    assert result["task"] == "recommend" and result["dataset"] == "amazon_office"
    assert result["n_users"] == 36 and result["n_items"] == 30
    assert list(result["metrics"]) == MODELS
    for scores in result["metrics"].values():
        assert 0.0 <= scores["NDCG@10"] <= scores["HR@10"] <= 1.0
    # Every user's next item is in their own kind: the behaviour models find it.
    assert result["metrics"]["itemknn"]["HR@10"] > result["metrics"]["popularity"]["HR@10"]


def test_protocol_and_tuning_are_reported(result: dict) -> None:
    assert "leave-one-out" in result["protocol"]
    assert "validation item" in result["protocol"] and "never used" in result["protocol"]
    assert sorted(result["tuning"]) == ["content", "itemknn"]
    best = result["tuning"]["itemknn"]["best_params"]
    assert result["model_params"]["itemknn"] == best
    assert set(result["model_seconds"]) == set(MODELS)
    assert result["tuning_seconds"] > 0.0


def test_cold_item_slice(result: dict) -> None:
    cold = result["cold_items"]
    assert cold["max_training_users"] == 5
    assert 0 < cold["n_users"] <= result["n_users"]
    assert list(cold["metrics"]) == MODELS
    assert all(0.0 <= m["HR@10"] <= 1.0 for m in cold["metrics"].values())


def test_seen_transition_slice(result: dict) -> None:
    # every user walks the items of one kind in order, and the users start one item apart,
    # so each test step (newest training item -> test item) is in another user's training
    seen = result["seen_transitions"]
    assert seen["n_users"] == result["n_users"] == 36
    for model, scores in seen["metrics"].items():
        assert scores["NDCG@10"] == result["metrics"][model]["NDCG@10"]


def test_seen_transitions_mark_the_test_steps_found_in_any_training_sequence() -> None:
    train = {"a": ["x", "y"], "b": ["y", "z"], "c": ["q", "y", "x"]}
    targets = {"a": {"z"}, "b": {"x"}, "c": {"y", "w"}}
    # a: y -> z is in b's sequence; b: z is never followed; c: x -> y is in a's (any target)
    assert seen_transitions(train, ["a", "b", "c"], targets).tolist() == [True, False, True]


def test_the_cli_table_shows_the_slices_beside_all_users(tmp_path: Path) -> None:
    folder = write_office(tmp_path / "amazon_office", test_offset=0)
    command = ["evaluate", "recommend", "--data", str(folder), "--models", "popularity,itemknn"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index("NDCG@10 on slices of the test users (users in brackets):")
    header = lines[start + 1].split()
    assert header[:3] == ["model", "all", "(36)"] and "transitions" in header
    assert [line.split()[0] for line in lines[start + 2 : start + 4]] == ["popularity", "itemknn"]


def test_choices_never_depend_on_the_test_items(tmp_path: Path, result: dict) -> None:
    moved = write_office(tmp_path / "amazon_office", test_offset=3)
    other = evaluate_recommend(moved, models=["itemknn", "content"], ks=(5, 10))
    for name in ("itemknn", "content"):
        mine = result["tuning"][name]
        theirs = other["tuning"][name]
        assert theirs["best_params"] == mine["best_params"]
        assert [t["valid_ndcg@10"] for t in theirs["trials"]] == [
            t["valid_ndcg@10"] for t in mine["trials"]
        ]


def test_no_tuning_when_asked(tmp_path: Path) -> None:
    folder = write_office(tmp_path / "amazon_office", test_offset=0)
    out = evaluate_recommend(
        folder, models=["itemknn"], ks=(10,), tune=False, max_users=10, per_user="HR@10"
    )
    assert out["tuning"] == {} and "validation item" not in out["protocol"]
    assert out["n_users"] == 10
    rows = out["per_user"]["models"]["itemknn"]  # one row per test user, for paired tests
    assert len(rows) == 10 and set(rows) <= {0.0, 1.0}
    assert sum(rows) / 10 == pytest.approx(out["metrics"]["itemknn"]["HR@10"])
    with pytest.raises(ValueError, match="unknown per-user metric 'HR@50'"):
        evaluate_recommend(folder, models=["itemknn"], ks=(10,), per_user="HR@50")


def test_model_params_set_what_a_model_fits_with(tmp_path: Path) -> None:
    folder = write_office(tmp_path / "amazon_office", test_offset=0)
    plain = evaluate_recommend(folder, models=["content"], ks=(10,), tune=False)
    given = evaluate_recommend(
        folder, models=["content"], ks=(10,), tune=False,
        model_params={"content": {"half_life": 0.5, "token_weight": 0.0}},
    )  # fmt: skip
    assert not plain["model_params"].get("content")  # the model's own defaults
    assert given["model_params"]["content"] == {"half_life": 0.5, "token_weight": 0.0}
    assert given["metrics"]["content"] != plain["metrics"]["content"]
