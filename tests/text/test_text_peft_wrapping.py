"""Wrapping with peft hides its own gradient-checkpointing probe warning and no other."""

from __future__ import annotations

import warnings

import pytest

from shoplm.finetune.model import load_sentence_model
from shoplm.heads.config import LoraSettings
from shoplm.heads.model import add_lora
from shoplm.text.peft_wrapping import peft_wrapping


def test_a_head_adapter_wraps_without_the_peft_probe_warning() -> None:
    encoder = load_sentence_model("all-MiniLM-L6-v2", "cpu")[0].auto_model
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning left would fail the wrap
        wrapped, frozen = add_lora(encoder, LoraSettings())
    assert frozen == 0 and sum(p.numel() for p in wrapped.parameters() if p.requires_grad) > 0


def test_only_the_probe_warning_is_hidden() -> None:
    with pytest.warns(FutureWarning, match="something else"), peft_wrapping():
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")  # every warning shown, unless the wrapping hides it
        with peft_wrapping():
            warnings.warn("`is_gradient_checkpointing` is deprecated", FutureWarning, stacklevel=1)
        warnings.warn("a warning outside the wrapping", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["a warning outside the wrapping"]
