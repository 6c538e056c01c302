import json
from pathlib import Path

import numpy as np
import pytest

from shoplm.config import EncoderSettings
from shoplm.text import compact
from shoplm.text.encoder import TextEncoder

PRODUCTS = [
    f"{adjective} {thing} {size}"
    for adjective in ("red", "stainless steel", "wireless", "cotton", "wooden")
    for thing in ("phone case", "coffee machine", "garden hose", "desk lamp", "drill kit")
    for size in ("small", "50 ft")
]


@pytest.fixture(scope="module")
def compacted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compact") / "keep0.5"
    marker = compact.compact_encoder("all-MiniLM-L6-v2", PRODUCTS, folder, keep=0.5, seed=3)
    return folder, marker


def test_calibration_texts_are_seeded_samples_plus_short_spans():
    texts = compact.calibration_texts(PRODUCTS, n_texts=10, n_spans=20, seed=1)
    assert texts == compact.calibration_texts(PRODUCTS, n_texts=10, n_spans=20, seed=1)
    assert len(texts) == 30 and set(texts[:10]) <= set(PRODUCTS)
    assert all(1 <= len(span.split()) <= 5 and span == span.lower() for span in texts[10:])


def test_compacted_folder_is_a_smaller_model_that_agrees_with_its_source(compacted):
    folder, marker = compacted
    config = json.loads((folder / "config.json").read_text())
    assert config["intermediate_size"] == 768
    assert marker["intermediate_size"] == [1536, 768]
    assert compact.read_marker(folder)["keep"] == 0.5
    assert len(marker["relative_error_per_block"]) == 6
    # Calibrated on these very texts: the pruned model must stay close to the source.
    assert marker["agreement"]["texts_cosine_mean"] > 0.9
    source = TextEncoder(EncoderSettings()).encode(PRODUCTS)
    pruned = TextEncoder(EncoderSettings(model=str(folder))).encode(PRODUCTS)
    assert pruned.shape == source.shape
    assert np.mean(np.sum(source * pruned, axis=1)) > 0.9


def test_compacted_model_runs_on_the_int8_onnx_backend(compacted, tmp_path, monkeypatch):
    folder, _ = compacted
    monkeypatch.setenv("SHOPLM_CACHE_DIR", str(tmp_path))
    torch_vectors = TextEncoder(EncoderSettings(model=str(folder))).encode(PRODUCTS)
    int8 = TextEncoder(EncoderSettings(model=str(folder), backend="onnx-int8"))
    vectors = int8.encode(PRODUCTS)
    assert int8.model_id != TextEncoder(EncoderSettings(backend="onnx-int8")).model_id
    assert np.min(np.sum(vectors * torch_vectors, axis=1)) > 0.95
    int8.close()


@pytest.mark.parametrize("keep", [0.0, 1.0, 1.5])
def test_keep_outside_zero_one_is_refused(keep, tmp_path):
    with pytest.raises(ValueError, match="keep must be between 0 and 1"):
        compact.compact_encoder("all-MiniLM-L6-v2", PRODUCTS, tmp_path / "x", keep=keep)


def test_no_texts_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="non-empty item text"):
        compact.compact_encoder("all-MiniLM-L6-v2", ["", "  "], tmp_path / "x", keep=0.5)
    assert not (tmp_path / "x").exists()


def test_cli_compact_on_a_tiny_home_switches_the_encoder(tmp_path, tiny_items, monkeypatch):
    from typer.testing import CliRunner

    from shoplm.cli import app
    from shoplm.config import Settings
    from shoplm.engine import Engine

    monkeypatch.chdir(tmp_path)
    home = Path("home")  # a relative home, as `--home myshop` gives
    runner = CliRunner()
    empty = runner.invoke(app, ["compact", "--home", str(home)])
    assert empty.exit_code == 2 and "ingest a catalog first" in empty.output
    with Engine.open(home) as engine:
        engine.upsert_items(tiny_items)
    done = runner.invoke(
        app, ["compact", "--home", str(home), "--keep", "0.5", "--distill-epochs", "1", "--json"]
    )
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["encoder_set"] and result["items"] == len(tiny_items)
    assert result["distillation"]["epochs"] == 1
    folder = home.resolve() / "compact" / "keep0.5-distill1"
    assert Path(result["model_folder"]) == folder  # absolute, like finetune's
    assert Settings.load(home).encoder.model == str(result["model_folder"])
    saved = json.loads((home / "config.json").read_text())["encoder"]["model"]
    assert saved == "compact/keep0.5-distill1"  # relative to the home: it can move
    again = runner.invoke(
        app, ["compact", "--home", str(home), "--keep", "0.25", "--distill-epochs", "1", "--no-use"]
    )
    assert again.exit_code == 0, again.output
    assert "neurons kept per block" in again.output
    assert "distillation, 1 epoch(s) on" in again.output and "validation cosine" in again.output
    assert Settings.load(home).encoder.model == str(result["model_folder"])  # --no-use
    fitted = runner.invoke(app, ["fit", "--home", str(home), "--json"])
    assert fitted.exit_code == 0, fitted.output
    assert json.loads(fitted.stdout)["encoded"]["encoded"] == len(tiny_items)
