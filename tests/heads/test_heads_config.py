"""Head settings: bad values fail when the config is made, and configs round-trip as dicts."""

from __future__ import annotations

import pytest

from shoplm.heads import HeadConfig, LoraSettings


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "full"}, "mode must be one of"),
        ({"class_weights": "inverse"}, "class_weights must be one of"),
        ({"init_head": "zeros"}, "init_head must be one of"),
        ({"pooling": "max"}, "pooling must be one of"),
        ({"head_dropout": 1.0}, r"head_dropout must be in \[0, 1\)"),
        ({"collapse_retries": -1}, "collapse_retries must be >= 0"),
        ({"ema_decay": 1.0}, r"ema_decay must be in \(0, 1\)"),
        ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\)"),
        ({"rdrop": -0.5}, "rdrop must be 0 or more"),
        ({"layer_lr_decay": 0.0}, r"layer_lr_decay must be in \(0, 1\]"),
        ({"layer_lr_decay": 1.5}, r"layer_lr_decay must be in \(0, 1\]"),
        ({"micro_batch_size": 0}, "micro_batch_size must be at least 1"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"encoder_lr": 0.0}, "learning rates must be positive"),
        ({"warmup_ratio": 1.0}, r"warmup_ratio must be in \[0, 1\)"),
    ],
)
def test_bad_settings_fail_naming_the_setting(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HeadConfig(**changes)


def test_a_config_survives_its_dict_form() -> None:
    config = HeadConfig(init_head="probe", lora=LoraSettings(r=4, alpha=8, layers=2))
    again = HeadConfig.from_dict(config.to_dict())
    assert again == config and again.lora.layers == 2
    # manifests written before a setting existed still load, with its default
    older = {k: v for k, v in config.to_dict().items() if k != "init_head"}
    assert HeadConfig.from_dict(older).init_head == "random"
