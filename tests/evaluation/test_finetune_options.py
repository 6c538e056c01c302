"""The shared encoder-training options: one parser, one config, the task's scale by default."""

from __future__ import annotations

import argparse

import pytest

from shoplm.evaluation.finetune_options import add_finetune_options, finetune_config
from shoplm.finetune.train import TASK_SCALE, with_task_scale


def _parse(*options: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_finetune_options(parser)
    return parser.parse_args(list(options))


def test_the_options_become_one_lora_config() -> None:
    args = _parse(
        "--epochs", "3", "--lr", "2e-4", "--rank", "4", "--lora-layers", "2",
        "--lora-targets", "query,value,dense", "--symmetric", "--strengths", "0.5,0.75",
        "--seed", "7",
    )  # fmt: skip
    config = finetune_config(args)
    assert config.mode == "lora" and config.epochs == 3 and config.learning_rate == 2e-4
    assert config.lora_r == 4 and config.lora_alpha == 8 and config.lora_layers == 2
    assert config.lora_targets == ["query", "value", "dense"]
    assert config.symmetric and config.strengths == [0.5, 0.75] and config.seed == 7
    assert not config.refit and finetune_config(_parse("--refit")).refit


def test_a_scale_left_out_takes_the_tasks_and_a_given_one_stays() -> None:
    unset = finetune_config(_parse())
    assert with_task_scale(unset, "recommend").scale == TASK_SCALE["recommend"] == 5.0
    assert with_task_scale(unset, "search").scale == TASK_SCALE["search"] == 20.0
    given = finetune_config(_parse("--scale", "20"))
    assert with_task_scale(given, "recommend").scale == 20.0


def test_a_bad_strength_is_a_parse_error() -> None:
    with pytest.raises(SystemExit):
        _parse("--strengths", "half")
