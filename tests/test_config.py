"""Settings: defaults, the config.json < env < arguments layering, save, home resolution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from shoplm.config import (
    DEFAULT_ENCODER,
    DEFAULT_HOME,
    EncoderSettings,
    RecommendSettings,
    Settings,
    resolve_home,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHOPLM_ENCODER", "SHOPLM_NO_PROGRESS", "SHOPLM_HOME"):
        monkeypatch.delenv(name, raising=False)


def _write_config(home: Path, data: dict) -> None:
    (home / "config.json").write_text(json.dumps(data))


def test_defaults() -> None:
    settings = Settings()
    assert settings.encoder.model == DEFAULT_ENCODER
    assert settings.encoder.batch_size is None and settings.encoder.device is None  # backend's
    assert settings.index.exact_below == 200_000
    assert settings.recommend.models == ["popularity", "itemknn", "content"]
    assert set(settings.recommend.blend) <= {*settings.recommend.models}
    assert settings.recommend.exclude_seen is True
    assert settings.seed == 42 and settings.show_progress is True


def test_load_without_config_file_gives_defaults(tmp_path: Path) -> None:
    assert Settings.load(tmp_path) == Settings()


def test_load_reads_config_json(tmp_path: Path) -> None:
    _write_config(tmp_path, {"seed": 7, "encoder": {"batch_size": 8}})
    settings = Settings.load(tmp_path)
    assert settings.seed == 7
    assert settings.encoder.batch_size == 8
    assert settings.encoder.model == DEFAULT_ENCODER  # untouched keys keep their default


def test_env_overrides_config_and_arguments_override_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_config(tmp_path, {"encoder": {"model": "/models/file", "batch_size": 8}})
    monkeypatch.setenv("SHOPLM_ENCODER", "/models/env")
    settings = Settings.load(tmp_path)
    assert settings.encoder.model == "/models/env"
    assert settings.encoder.batch_size == 8  # env changed only the model
    settings = Settings.load(tmp_path, encoder={"model": "/models/arg"})
    assert settings.encoder.model == "/models/arg"
    assert settings.encoder.batch_size == 8  # an override merges into its section


def test_override_section_keeps_other_keys_of_that_section(tmp_path: Path) -> None:
    _write_config(tmp_path, {"encoder": {"model": "/models/file"}, "seed": 3})
    settings = Settings.load(tmp_path, encoder={"device": "cpu"}, seed=9)
    assert settings.encoder.model == "/models/file"
    assert settings.encoder.device == "cpu"
    assert settings.seed == 9


def test_override_with_a_settings_object_replaces_the_section(tmp_path: Path) -> None:
    _write_config(tmp_path, {"encoder": {"model": "/models/file", "batch_size": 8}})
    settings = Settings.load(tmp_path, encoder=EncoderSettings(device="cpu"))
    assert settings.encoder == EncoderSettings(device="cpu")


def test_blend_weights_override_replaces_the_whole_mapping(tmp_path: Path) -> None:
    settings = Settings.load(tmp_path, recommend={"blend": {"als": 1.0}})
    assert settings.recommend.blend == {"als": 1.0}
    assert settings.recommend.models == ["popularity", "itemknn", "content"]


@pytest.mark.parametrize(("value", "show"), [("1", False), ("yes", False), ("0", True), ("", True)])
def test_no_progress_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, show: bool
) -> None:
    monkeypatch.setenv("SHOPLM_NO_PROGRESS", value)
    assert Settings.load(tmp_path).show_progress is show


def test_argument_beats_no_progress_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPLM_NO_PROGRESS", "1")
    assert Settings.load(tmp_path, show_progress=True).show_progress is True


def test_save_round_trip(tmp_path: Path) -> None:
    settings = Settings(seed=5, encoder=EncoderSettings(model="/m", batch_size=16))
    settings.save(tmp_path)
    assert not (tmp_path / "config.tmp").exists()
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 5
    assert Settings.load(tmp_path) == settings


def test_save_creates_the_home(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    Settings().save(home)
    assert Settings.load(home) == Settings()


def test_an_encoder_folder_in_the_home_is_saved_relative_and_loads_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "shop"
    model = home / "finetune" / "lora"
    model.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    Settings(encoder=EncoderSettings(model="shop/finetune/lora")).save(Path("shop"))
    saved = json.loads((home / "config.json").read_text())["encoder"]["model"]
    assert saved == "finetune/lora"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert Settings.load(Path("../shop")).encoder.model == str(model.resolve())
    moved = tmp_path / "moved"
    home.rename(moved)
    assert Settings.load(moved).encoder.model == str((moved / "finetune" / "lora").resolve())


def test_an_encoder_folder_outside_the_home_keeps_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "models" / "mine").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    Settings(encoder=EncoderSettings(model="models/mine")).save(tmp_path / "shop")
    config = json.loads((tmp_path / "shop" / "config.json").read_text())
    assert config["encoder"]["model"] == "models/mine"
    # not in the home, so a relative folder is still the current directory's (older homes)
    assert Settings.load(tmp_path / "shop").encoder.model == "models/mine"


def test_the_environment_encoder_path_is_the_current_directory_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shop" / "lora").mkdir(parents=True)
    _write_config(tmp_path / "shop", {"encoder": {"model": "lora"}})
    monkeypatch.setenv("SHOPLM_ENCODER", "lora")
    assert Settings.load(tmp_path / "shop").encoder.model == "lora"


def test_bad_value_in_config_names_the_field(tmp_path: Path) -> None:
    _write_config(tmp_path, {"encoder": {"batch_size": 0}})
    with pytest.raises(ValidationError, match=r"encoder\.batch_size"):
        Settings.load(tmp_path)


def test_unknown_key_in_config_is_an_error_naming_it(tmp_path: Path) -> None:
    _write_config(tmp_path, {"encodr": {"model": "x"}})
    with pytest.raises(ValidationError, match="encodr"):
        Settings.load(tmp_path)
    _write_config(tmp_path, {"encoder": {"modle": "x"}})
    with pytest.raises(ValidationError, match=r"encoder\.modle"):
        Settings.load(tmp_path)


def test_broken_config_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        Settings.load(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        Settings.load(tmp_path)


def test_resolve_home_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_home(None) == Path(DEFAULT_HOME)
    monkeypatch.setenv("SHOPLM_HOME", str(tmp_path / "env"))
    assert resolve_home(None) == tmp_path / "env"
    assert resolve_home(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_home(str(tmp_path / "arg")) == tmp_path / "arg"


def test_resolve_home_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_home("~/shop") == tmp_path / "shop"


def test_recommender_presets_are_valid_settings_and_fast_is_the_default() -> None:
    assert RecommendSettings.preset("fast") == RecommendSettings()
    best = RecommendSettings.preset("best")
    assert set(best.blend) == {"hybrid"} and set(best.tune) <= set(best.models)
    assert "popularity" in best.models  # shoppers with no history still get popular items
    with pytest.raises(ValueError, match="unknown recommender preset 'good'"):
        RecommendSettings.preset("good")
    # a preset sets which models and how they blend; the models' own parameters stay
    tuned = RecommendSettings(params={"als": {"factors": 8}}).with_preset("best")
    assert tuned.params == {"als": {"factors": 8}} and tuned.blend == best.blend
    back = tuned.with_preset("fast")
    assert back.models == RecommendSettings().models and back.tune == [] and back.params
