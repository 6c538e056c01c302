"""LoRA trains only the adapter; checkpoints resume exactly; exports load and agree."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.torch import load_file

from shoplm.config import DEFAULT_ENCODER, EncoderSettings
from shoplm.finetune import train as train_module
from shoplm.finetune.checkpoint import WEIGHTS_FILE
from shoplm.finetune.data import TrainingData
from shoplm.finetune.manifest import base_of, read_manifest
from shoplm.finetune.model import (
    ADAPTER_WEIGHTS,
    PEFT_PREFIX,
    LoraSettings,
    add_lora,
    load_adapter,
    load_sentence_model,
    parameter_counts,
    switch_adapter,
)
from shoplm.finetune.train import FinetuneConfig, beats_base, train_encoder
from shoplm.text.encoder import TextEncoder

TEXTS = ["red office stapler", "laser printer toner", "coffee mug ceramic"]
# all-MiniLM-L6-v2: 6 layers x 3 projections (query, key, value) x (384*8 + 8*384)
LORA_R8_QKV = 6 * 3 * (384 * 8 + 8 * 384)


@pytest.fixture(scope="module")
def lora_run(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_config: FinetuneConfig,
    tiny_data_factory: Callable[[], TrainingData],
) -> Any:
    """One finished LoRA run (4 steps), shared by the tests that read its outputs."""
    out = tmp_path_factory.mktemp("lora") / "run"
    return out, train_encoder(tiny_data_factory(), tiny_config, out, show_progress=False)


def test_lora_trains_only_adapter_weights(
    lora_run: Any, tiny_data_factory: Callable[[], TrainingData]
) -> None:
    model = load_sentence_model(DEFAULT_ENCODER)
    base_total = parameter_counts(model)["total"]
    add_lora(model, LoraSettings(r=8))
    assert parameter_counts(model) == {
        "trainable": LORA_R8_QKV,
        "total": base_total + LORA_R8_QKV,
    }
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)

    out, result = lora_run
    assert result["finished"] and result["trainable_params"] == LORA_R8_QKV
    assert result["steps"] == 4
    saved = load_file(out / "checkpoint" / WEIGHTS_FILE)
    assert saved and all("lora_" in name for name in saved)  # only the adapter is trained
    assert any(float(t.abs().sum()) > 0 for n, t in saved.items() if "lora_B" in n)  # it moved
    manifest = read_manifest(out)
    assert manifest["base_model"] == DEFAULT_ENCODER
    assert manifest["data_hash"] == tiny_data_factory().data_hash()
    assert manifest["lora"]["r"] == 8
    assert manifest["lora"]["target_modules"] == ["query", "key", "value"]
    assert manifest["peak_rss_mb"] > 0 and manifest["wall_seconds"] > 0
    assert len(manifest["metrics"]["history"]) >= 2  # the base's score, then training's


def test_resume_continues_from_the_saved_step(
    tmp_path: Path, lora_run: Any, tiny_data: TrainingData, tiny_config: FinetuneConfig
) -> None:
    cut = train_encoder(tiny_data, tiny_config, tmp_path, show_progress=False, stop_after=2)
    assert cut["finished"] is False and cut["global_step"] == 2
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["global_step"] == 2 and state["step_in_epoch"] == 2
    # Written before the symmetric setting existed: it still resumes, with the default.
    del state["config"]["symmetric"]
    (tmp_path / "checkpoint" / "state.json").write_text(json.dumps(state))
    resumed = train_encoder(tiny_data, tiny_config, tmp_path, show_progress=False)
    assert resumed["finished"] and resumed["resumed_at"] == 2 and resumed["steps"] == 4
    # Same weights as the run that was never interrupted (dropout's random state included).
    straight = load_file(lora_run[0] / "checkpoint" / WEIGHTS_FILE)
    again = load_file(tmp_path / "checkpoint" / WEIGHTS_FILE)
    assert straight.keys() == again.keys()
    for name in straight:
        np.testing.assert_allclose(straight[name].numpy(), again[name].numpy(), atol=1e-6)
    assert resumed["model_id"] == lora_run[1]["model_id"]
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["config"]["symmetric"] is False  # saved again with every setting


def test_a_checkpoint_with_other_settings_starts_over(
    tmp_path: Path, tiny_data: TrainingData, tiny_config: FinetuneConfig
) -> None:
    train_encoder(tiny_data, tiny_config, tmp_path, show_progress=False, stop_after=2)
    said: list[str] = []
    other = tiny_config.model_copy(update={"symmetric": True})
    again = train_encoder(
        tiny_data, other, tmp_path, show_progress=False, stop_after=1, progress=said.append
    )
    assert again["resumed_at"] == 0 and again["global_step"] == 1
    assert any("other data or settings: starting over" in line for line in said)


def test_adapter_round_trip_and_merged_folder(lora_run: Any) -> None:
    out, result = lora_run
    adapter = out / "adapter"
    model = load_sentence_model(DEFAULT_ENCODER)
    base_vectors = model.encode(TEXTS)
    load_adapter(model, adapter, "office")
    with_adapter = model.encode(TEXTS)
    assert not np.allclose(with_adapter, base_vectors, atol=1e-6)
    # A second adapter on the same loaded base, switched to without reloading anything.
    load_adapter(model, adapter, "copy", activate=False)
    switch_adapter(model, "copy")
    np.testing.assert_array_equal(model.encode(TEXTS), with_adapter)
    # The training process's own best weights give the same vectors as the saved adapter.
    model.disable_adapters()
    np.testing.assert_allclose(model.encode(TEXTS), base_vectors, atol=1e-6)

    folder = Path(result["model_folder"])
    encoder = TextEncoder(EncoderSettings(model=str(folder)))
    np.testing.assert_allclose(encoder.encode(TEXTS), with_adapter, atol=1e-5)
    assert encoder.model_id == result["model_id"]
    assert encoder.model_id != TextEncoder(EncoderSettings()).model_id
    assert base_of(str(folder)) == DEFAULT_ENCODER


def test_full_mode_trains_every_weight(tmp_path: Path, tiny_data: TrainingData) -> None:
    config = FinetuneConfig(mode="full", batch_size=6, max_seq_length=16)
    cut = train_encoder(tiny_data, config, tmp_path, show_progress=False, stop_after=1)
    assert cut["trainable_params"] == cut["total_params"] > 20_000_000
    result = train_encoder(tiny_data, config, tmp_path, show_progress=False)
    assert result["finished"] and result["lora"] is None and result["resumed_at"] == 1
    vectors = TextEncoder(EncoderSettings(model=result["model_folder"])).encode(TEXTS)
    assert vectors.shape == (3, 384)


def test_no_pairs_is_a_clear_error(tmp_path: Path, tiny_data: TrainingData) -> None:
    tiny_data.pairs = []
    with pytest.raises(ValueError, match="no training pairs"):
        train_encoder(tiny_data, FinetuneConfig(), tmp_path)


def test_lora_alpha_defaults_to_twice_the_rank_and_is_recorded() -> None:
    config = FinetuneConfig(lora_r=4)
    assert config.lora_alpha == 8 and config.lora().alpha == 8
    assert config.model_dump()["lora_alpha"] == 8  # the manifest and resume check see it
    assert FinetuneConfig.model_validate(config.model_dump()) == config
    assert FinetuneConfig(lora_r=4, lora_alpha=4).lora().alpha == 4  # an explicit one stays


def test_rerunning_a_finished_run_with_strengths_only_re_exports(
    tmp_path: Path,
    lora_run: Any,
    tiny_data: TrainingData,
    tiny_config: FinetuneConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "run"
    shutil.copytree(lora_run[0] / "checkpoint", out / "checkpoint")
    scores = iter([0.9, 0.1])  # strength 0.5 is tried first, then 1.0
    monkeypatch.setattr(train_module, "_validate", lambda *args: next(scores))
    config = tiny_config.model_copy(update={"strengths": [0.5]})
    result = train_encoder(tiny_data, config, out, show_progress=False)

    assert result["resumed_at"] == 4 and result["steps"] == 4  # no step trained again
    metrics = result["metrics"]
    assert metrics["strength"] == 0.5
    assert metrics["strength_trials"] == [
        {"strength": 0.5, "valid_ndcg@10": 0.9},
        {"strength": 1.0, "valid_ndcg@10": 0.1},
    ]
    tuned = load_file(out / "checkpoint" / WEIGHTS_FILE)  # keep_best is off: the last weights
    exported = load_file(out / "adapter" / ADAPTER_WEIGHTS)
    assert len(exported) == len(tuned)
    for name, value in exported.items():
        inner = name.removeprefix(PEFT_PREFIX).replace(".weight", ".default.weight")
        (trained,) = [t for n, t in tuned.items() if n.endswith(inner)]
        factor = 1.0 if "lora_A" in name else 0.5
        np.testing.assert_allclose(value.numpy(), factor * trained.numpy(), atol=1e-7)
    assert result["model_id"] != lora_run[1]["model_id"]  # the merged folder changed too


def test_strengths_must_be_positive_and_at_most_two() -> None:
    with pytest.raises(ValueError, match="strengths must lie in"):
        FinetuneConfig(strengths=[0.5, 0.0])
    with pytest.raises(ValueError, match="strengths must lie in"):
        FinetuneConfig(strengths=[2.5])


def test_beats_base_judges_the_export_against_the_start() -> None:
    won = {"best_step": 40}
    assert beats_base(won, keep_best=True, strength=1.0) is True
    assert beats_base({"best_step": 0}, keep_best=True, strength=1.0) is False
    assert beats_base(won, keep_best=True, strength=0.0) is False  # strength 0 is the base
    assert beats_base(won, keep_best=False, strength=1.0) is None  # the last step, unjudged
