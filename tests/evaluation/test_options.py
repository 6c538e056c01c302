"""The option parsers the evaluation commands use."""

from __future__ import annotations

import argparse

import pytest

from shoplm.evaluation.options import comma_list, float_list, parse_model_params


def test_comma_list_strips_names_and_drops_empty_ones() -> None:
    assert comma_list("lora, full,") == ["lora", "full"]
    assert comma_list(" transfer-100% ") == ["transfer-100%"]
    assert comma_list(",, ") == []


def test_float_list_reads_numbers_and_names_a_bad_part() -> None:
    assert float_list("0.5, 0.75,") == [0.5, 0.75]
    assert float_list("") == []
    with pytest.raises(argparse.ArgumentTypeError, match="half"):
        float_list("0.5,half")


def test_parse_model_params_reads_each_models_parameters_and_names_bad_input() -> None:
    text = '{"sasrec-text": {"text_vectors": "home"}, "content": {"half_life": 2}}'
    assert parse_model_params(text) == {
        "sasrec-text": {"text_vectors": "home"},
        "content": {"half_life": 2},
    }
    with pytest.raises(argparse.ArgumentTypeError, match="--params is not JSON"):
        parse_model_params("{sasrec-text: home}")
    with pytest.raises(argparse.ArgumentTypeError, match="map model names to their parameters"):
        parse_model_params('{"sasrec-text": "home"}')
    with pytest.raises(argparse.ArgumentTypeError, match="map model names"):
        parse_model_params("[1, 2]")
