"""Pretraining the base encoder further on the shop's own unlabelled text (masked-LM)."""

from shoplm.pretrain.masked_lm import (
    MaskedLmConfig,
    PretrainDataError,
    pretrain_masked_lm,
)

__all__ = ["MaskedLmConfig", "PretrainDataError", "pretrain_masked_lm"]
