"""One run trains a shared adapter on a source platform and scores every transfer variant."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from shoplm.cli import app
from shoplm.evaluation.transfer_eval import evaluate_transfer, share_of_users
from shoplm.finetune.train import FinetuneConfig

# Full-ranking metrics cut at 20, so each catalog needs more than 20 items.
GAMES = [
    f"{series} {platform}"
    for series in ("racing", "puzzle", "football", "space shooter")
    for platform in ("switch", "ps4", "xbox", "pc", "wii", "3ds")
]
OFFICE = [
    f"{colour} {thing}"
    for colour in ("red", "blue", "black", "green")
    for thing in ("stapler", "gel pens", "paper ream", "toner", "desk lamp", "mug")
]


def _write(path: Path, lines: list[str]) -> None:
    path.write_bytes(gzip.compress("".join(line + "\n" for line in lines).encode()))


def _sequences(users: int) -> list[str]:
    return [
        json.dumps({"user_id": u, "item_ids": [(u + 5 * k) % 24 for k in range(5)]})
        for u in range(users)
    ]


def _make_source(folder: Path) -> Path:
    """The amazon_games layout: titles only, in a CSV."""
    folder.mkdir()
    _write(folder / "items.csv.gz", ["item_id,title", *(f"{n},{t}" for n, t in enumerate(GAMES))])
    _write(folder / "sequences.jsonl.gz", _sequences(8))
    return folder


def _make_target(folder: Path) -> Path:
    """The amazon_office layout: title, description, brand, categories."""
    folder.mkdir()
    items = [
        {"item_id": n, "title": t, "description": "", "brand": "", "categories": "Office"}
        for n, t in enumerate(OFFICE)
    ]
    _write(folder / "items.jsonl.gz", [json.dumps(item) for item in items])
    _write(folder / "sequences.jsonl.gz", _sequences(20))
    return folder


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny batches train faster on one thread (and far faster on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def test_share_of_users_is_seeded_and_sized() -> None:
    train = {f"u{n}": ["a", "b"] for n in range(50)} | {"empty": []}
    first = share_of_users(train, 0.1, seed=7)
    assert first == share_of_users(train, 0.1, seed=7) and len(first) == 5
    assert "empty" not in first and first == sorted(first)
    assert len(share_of_users({"u": ["a"]}, 0.1, seed=7)) == 1  # never an empty share


def test_transfer_cli_lists_its_options_and_rejects_a_bad_fraction(tmp_path: Path) -> None:
    shown = CliRunner().invoke(app, ["evaluate", "transfer", "--help"])
    assert shown.exit_code == 0
    options = (
        "--max-source-pairs", "--max-target-users", "--max-target-pairs", "--fraction",
        "--workdir", "--lora-layers", "--bank-every", "--window", "--valid-half-life",
        "--threads", "--symmetric", "--strengths",
    )  # fmt: skip
    for option in options:
        assert option in shown.stdout
    with pytest.raises(ValueError, match="fraction"):
        evaluate_transfer(tmp_path, tmp_path, fraction=1.0)
    with pytest.raises(ValueError, match="must be lora"):
        evaluate_transfer(tmp_path, tmp_path, config=FinetuneConfig(mode="full"))


def test_shoplm_evaluate_transfer_scores_every_variant_and_stores_adapters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None
) -> None:
    monkeypatch.setenv("SHOPLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SHOPLM_ENCODER", raising=False)
    source = _make_source(tmp_path / "games")
    target = _make_target(tmp_path / "office")
    work = tmp_path / "work"
    options = (
        "--max-source-pairs 12 --max-seq-length 16 --batch-size 4 --no-tune --in-process --json"
        " --patience 3"
    )
    args = ["--source", str(source), "--target", str(target), "--workdir", str(work)]
    invoked = CliRunner().invoke(app, ["evaluate", "transfer", *args, *options.split()])
    assert invoked.exit_code == 0, invoked.output
    result = json.loads(invoked.stdout)

    assert result["task"] == "transfer"
    config = result["config"]  # the options every finetune evaluation shares
    assert config["patience"] == 3 and config["scale"] == 5.0
    assert (result["source"], result["target"]) == ("amazon_games", "amazon_office")
    variants = {
        "content-frozen",
        "content-transfer-zero-shot",
        "content-transfer-10%",
        "content-transfer-100%",
        "content-alone-10%",
        "content-alone-100%",
        "itemknn-10%",
        "als-10%",
        "itemknn-100%",
    }
    assert set(result["metrics"]) == variants
    for name in variants:
        assert 0.0 <= result["metrics"][name]["NDCG@10"] <= 1.0, name
        assert result["evaluations"][name]["n_users"] == 20, name
    assert "leave-one-out" in result["protocol"] and "transfer" in result["protocol"]
    comparisons = {(c["model"], c["against"]): c for c in result["paired"]["comparisons"]}
    tuned = [name for name in variants if name.startswith("content-") and "frozen" not in name]
    expected = {(name, "content-frozen") for name in tuned}
    expected |= {(f"content-transfer-{s}", f"content-alone-{s}") for s in ("10%", "100%")}
    assert set(comparisons) == expected
    head_to_head = comparisons[("content-transfer-10%", "content-alone-10%")]
    shift = (
        result["metrics"]["content-transfer-10%"]["NDCG@10"]
        - result["metrics"]["content-alone-10%"]["NDCG@10"]
    )
    assert head_to_head["n"] == 20 and head_to_head["difference"] == pytest.approx(shift, abs=1e-5)
    assert "recency half-life 5.0 (the frozen content model's choice)" in result["protocol"]

    # 10% of 20 target users; 2 users x (5 - 2 held out - 1) pairs, 20 users for 100%.
    assert (result["share_users"], result["target_users"]) == (2, 20)
    assert result["pairs"] == {"source": 12, "target-10%": 4, "target-100%": 40}
    assert result["evaluations"]["itemknn-10%"]["known_test_users"] == 2
    assert result["evaluations"]["itemknn-100%"]["known_test_users"] == 20

    adapters = result["adapters"]
    assert set(adapters) == {"shared", "transfer-10%", "transfer-100%", "alone-10%", "alone-100%"}
    shared_folder = adapters["shared"]["model_folder"]
    for name, adapter in adapters.items():
        folder = Path(adapter["adapter_folder"])
        assert folder.is_relative_to(work), name
        assert (folder / "adapter_model.safetensors").is_file(), name
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["platform"] == ("amazon_games" if name == "shared" else "amazon_office")
        assert len(manifest["data_hash"]) == 16 and "valid_ndcg@10_best" in manifest["metrics"]
        assert manifest["transfer"]["target_metrics"], name
        expected_base = shared_folder if name.startswith("transfer-") else manifest["base_model"]
        assert manifest["base_model"] == expected_base
        cost = result["training"][
            f"content-{name}" if name != "shared" else "content-transfer-zero-shot"
        ]
        assert 0 < cost["trainable_params"] < cost["total_params"]
    assert adapters["alone-10%"]["data_hash"] == adapters["transfer-10%"]["data_hash"]
    assert adapters["alone-10%"]["data_hash"] != adapters["alone-100%"]["data_hash"]

    swap = result["swap_check"]
    assert swap["bases_loaded"] == 2 and set(swap["per_adapter"]) == set(adapters)
    assert swap["max_abs_diff"] <= 1e-4 and swap["ok"]
    assert swap["moved_from_base"]["alone-100%"] > 1e-3  # a real adapter was swapped in
    assert (work / "transfer-result.json").is_file()
