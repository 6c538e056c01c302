"""Cross-platform head transfer, end to end on two tiny review platforms (tiny random BERT)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplm.cli import app
from shoplm.evaluation.heads_transfer_eval import evaluate_heads_transfer
from shoplm.heads import HeadConfig, LoraSettings, TaskHead

WORDS = {5: "great lovely", 4: "nice good", 3: "okay fine", 2: "poor bad", 1: "awful broken"}


def _reviews_folder(folder: Path, header: list[str], n: int) -> Path:
    """A reviews.csv.gz with the source's columns: rating, item id, body, title."""
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for i in range(n):
        rating = i % 5 + 1
        writer.writerow([rating, f"i{i % 7}", f"the fit is {WORDS[rating]}", ""])
    (folder / "reviews.csv.gz").write_bytes(gzip.compress(buffer.getvalue().encode(), mtime=0))
    return folder


@pytest.fixture
def platforms(tmp_path: Path) -> tuple[Path, Path]:
    clothing = ["Rating", "Clothing ID", "Review Text", "Title"]
    office = ["overall", "asin", "reviewText", "summary"]
    return (
        _reviews_folder(tmp_path / "clothing", clothing, 60),
        _reviews_folder(tmp_path / "office", office, 100),
    )


@pytest.fixture
def tiny_head(tiny_base) -> HeadConfig:
    """One quick LoRA head setting on the tiny base for every variant."""
    return HeadConfig(
        base_model=tiny_base, epochs=1, batch_size=8, class_weights="none",
        lora=LoraSettings(r=2, alpha=4, layers=1),
    )  # fmt: skip


def test_every_variant_is_scored_on_the_same_target_rows(
    tiny_base, tiny_head, platforms, tmp_path: Path
) -> None:
    source, target = platforms
    result = evaluate_heads_transfer(
        source, target, fraction=0.2, head=tiny_head, workdir=tmp_path / "work"
    )
    assert result["source"] == "womens_clothing_reviews"
    assert result["target"] == "amazon_office_reviews_sample"
    names = ["probe-20%", "transfer-20%", "alone-20%", "transfer-100%", "alone-100%"]
    assert list(result["metrics"]) == ["transfer-zero-shot", *names]
    for row in result["metrics"].values():
        assert 0.0 <= row["macro_f1"] <= 1.0 and row["trainable_parameters"] > 0
        assert row["macro_f1_low"] <= row["macro_f1"] <= row["macro_f1_high"]
    paired = result["paired"]
    assert list(paired) == [
        "transfer-20% vs alone-20%",
        "transfer-20% vs probe-20%",
        "transfer-100% vs alone-100%",
    ]
    for key, found in paired.items():
        candidate, baseline = key.split(" vs ")
        difference = (
            result["metrics"][candidate]["macro_f1"] - result["metrics"][baseline]["macro_f1"]
        )
        assert found["difference"] == pytest.approx(difference, abs=2e-6)
        assert found["low"] <= found["high"] and 0.0 <= found["candidate_better"] <= 1.0
    rows = result["rows"]
    assert rows["train-100%"] == 70 and rows["train-20%"] == 14 and rows["test"] == 20
    assert rows["valid-20%"] == 2 and rows["source_train"] == 42
    heads = result["heads"]
    shared_encoder = str(tmp_path / "work" / "shared-encoder")
    assert heads["transfer-20%"]["base_model"] == shared_encoder
    assert heads["transfer-20%"]["stacked_on_shared"]
    assert not heads["alone-20%"]["stacked_on_shared"]
    assert heads["alone-100%"]["base_model"] == tiny_base
    # a target head stored apart loads back onto the shared encoder it was trained on
    loaded = TaskHead.load(heads["transfer-20%"]["folder"])
    assert loaded.config.base_model == shared_encoder
    assert "seeded 20% of its training rows (14)" in result["protocol"]
    assert "transfer-* merge the shared adapter" in result["protocol"]
    json.dumps(result)


def test_variants_runs_only_the_named_ones(tiny_head, platforms) -> None:
    source, target = platforms
    result = evaluate_heads_transfer(
        source, target, fraction=0.2, head=tiny_head, variants=["transfer-100%"],
        max_source_train=None,
    )  # fmt: skip
    assert list(result["metrics"]) == ["transfer-zero-shot", "transfer-100%"]
    assert list(result["heads"]) == ["shared", "transfer-100%"]
    assert result["paired"] == {}  # nothing trained alone to compare with
    assert result["heads"]["transfer-100%"]["stacked_on_shared"]
    assert result["rows"]["source_train"] == 42  # no cap: the whole 70% training split


def test_export_encoder_merges_the_adapter_into_plain_weights(
    tiny_base, toy_train, toy_valid, tmp_path: Path
) -> None:
    import numpy as np

    from shoplm.heads import TaskSpec
    from shoplm.heads.model import load_base

    spec = TaskSpec("sentiment", "classification", ("negative", "neutral", "positive"))
    config = HeadConfig(
        base_model=tiny_base, batch_size=8, epochs=1, class_weights="none",
        lora=LoraSettings(r=2, alpha=4, dropout=0.0),
    )  # fmt: skip
    head = TaskHead.train(spec, toy_train, toy_valid, config)
    folder = head.export_encoder(tmp_path / "merged")
    assert (folder / "modules.json").is_file()
    merged = TaskHead(spec, head.config, load_base(str(folder)), head.net)
    texts = ["great lovely dress", "awful broken size"]
    adapted = head.embed(texts)
    probe = TaskHead.train(
        spec, toy_train, toy_valid,
        HeadConfig(mode="probe", base_model=str(folder), probe_epochs=1, class_weights="none"),
    )  # fmt: skip
    np.testing.assert_allclose(probe.embed(texts), adapted, atol=1e-5)
    assert merged.base.model_id != load_base(tiny_base).model_id
    with pytest.raises(ValueError, match="only a LoRA head"):
        probe.export_encoder(tmp_path / "nothing")


def test_cli_and_bad_input(tiny_base, platforms, tmp_path: Path) -> None:
    source, target = platforms
    with pytest.raises(ValueError, match="fraction must be in"):
        evaluate_heads_transfer(source, target, fraction=1.0)
    queries = tmp_path / "wands"
    queries.mkdir()
    text = "query_id,query,query_class\n1,salon chair,Massage Chairs\n"
    (queries / "queries.csv.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    with pytest.raises(ValueError, match="holds a QueryClassDataset, not reviews"):
        evaluate_heads_transfer(queries, target)
    with pytest.raises(ValueError, match=r"variants must be some of .*'alone-10%'"):
        evaluate_heads_transfer(source, target, variants=["alone-50%"])
    with pytest.raises(ValueError, match="variants must be some of"):
        evaluate_heads_transfer(source, target, variants=[])
    result = CliRunner().invoke(app, ["evaluate", "heads-transfer", "--help"])
    assert result.exit_code == 0 and "--fraction" in result.output and "--variants" in result.output
    bad = CliRunner().invoke(
        app,
        ["evaluate", "heads-transfer", "--source", str(source), "--target", str(target),
         "--variants", "transfer-100%,nope", "--base-model", tiny_base],
    )  # fmt: skip
    assert bad.exit_code == 2 and "error: variants must be some of" in bad.output
