"""``shoplm pretrain`` on the tiny random BERT."""

from __future__ import annotations

import json
from pathlib import Path

from tiny_bert import FILLER, NEGATIVE, POSITIVE
from typer.testing import CliRunner

from shoplm.cli import app


def _reviews(path: Path, n: int = 30) -> Path:
    words = POSITIVE + NEGATIVE
    rows = ["title,body"]
    rows += [f"{words[i % len(words)]},{FILLER[i % len(FILLER)]} dress" for i in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_pretrain_writes_a_model_folder_from_a_files_text_columns(
    tiny_base: str, tmp_path: Path
) -> None:
    data, out = _reviews(tmp_path / "reviews.csv"), tmp_path / "base"
    args = ["pretrain", "--data", str(data), "--text-column", "title", "--text-column", "body"]
    args += ["--out", str(out), "--base-model", tiny_base, "--max-seq-length", "16"]
    args += ["--batch-size", "8", "--max-rows", "24", "--threads", "1", "--quiet", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["texts"] == 24 and report["folder"] == str(out)
    assert report["config"]["max_seq_length"] == 16 and report["steps"] == 3
    assert (out / "model.safetensors").is_file() and (out / "modules.json").is_file()


def test_pretrain_names_the_row_of_a_missing_column(tiny_base: str, tmp_path: Path) -> None:
    data = _reviews(tmp_path / "reviews.csv")
    args = [
        "pretrain",
        "--data",
        str(data),
        "--text-column",
        "review",
        "--out",
        str(tmp_path / "x"),
    ]
    result = CliRunner().invoke(app, [*args, "--base-model", tiny_base])
    assert result.exit_code == 2
    assert "row 1 has no column 'review'" in result.output
    assert not (tmp_path / "x").exists()
