"""The network: the shared transformer, mean pooled like sentence-transformers, plus a head.

The pooled vector is L2-normalised, the same vector the rest of shoplm searches with, so a
probe head and a LoRA head see the same kind of input.  LoRA wraps only the transformer
(``peft``); the head is a plain ``nn.Linear`` beside it.

When only the top blocks carry an adapter, training splits the transformer in two: the
frozen bottom (``prefix``) runs once per text and its output is kept, the top
(``forward_from_prefix``) runs every step.  Predicting always uses the model's own
forward; a test checks the two paths agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from shoplm.config import DEFAULT_ENCODER
from shoplm.heads.config import HeadConfig, LoraSettings
from shoplm.text.blocks import bottom_states, can_split, mean_pool, n_blocks, run_blocks
from shoplm.text.encoder import resolve_model, stable_model_id
from shoplm.text.peft_wrapping import peft_wrapping

# The linear layers of one transformer block that get an adapter (BERT-style names).
BLOCK_LINEARS = (
    r"attention\.self\.(query|key|value)|attention\.output\.dense"
    r"|intermediate\.dense|output\.dense"
)


@dataclass
class Base:
    """A loaded base model: its tokenizer, transformer, vector size and stable id."""

    tokenizer: Any
    encoder: nn.Module
    dim: int
    model_id: str


def load_base(model: str = DEFAULT_ENCODER, model_id: str | None = None) -> Base:
    """The local transformer and tokenizer of a sentence-transformers folder; never downloads.

    ``model_id``: the folder's id when the caller has just computed it (it hashes the weights)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = resolve_model(model)
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        encoder = AutoModel.from_pretrained(str(path), local_files_only=True)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    model_id = model_id or stable_model_id(model)
    return Base(tokenizer, encoder, int(encoder.config.hidden_size), model_id)


class HeadNet(nn.Module):
    """Transformer (optionally LoRA-adapted) -> pooled vector -> (dropout) -> linear head.

    ``frozen_blocks``: how many bottom blocks carry no adapter (their output may be cached).
    ``normalise``: the pooled vector is L2-normalised (``HeadConfig.pooling``).
    ``dropout``: on the pooled vector, while training only.
    """

    def __init__(
        self,
        encoder: nn.Module,
        dim: int,
        n_outputs: int,
        frozen_blocks: int = 0,
        normalise: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(dim, n_outputs)
        self.frozen_blocks = frozen_blocks
        self.normalise = normalise
        self.dropout = nn.Dropout(dropout)

    @classmethod
    def for_config(
        cls, encoder: nn.Module, dim: int, n_outputs: int, frozen_blocks: int, config: HeadConfig
    ) -> HeadNet:
        """The network a head with these settings trains and predicts with."""
        return cls(
            encoder,
            dim,
            n_outputs,
            frozen_blocks,
            normalise=config.pooling == "normalised",
            dropout=config.head_dropout,
        )

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(hidden.last_hidden_state, attention_mask, self.normalise)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(input_ids, attention_mask)))

    def prefix(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states after the frozen bottom blocks (no gradient: nothing there learns)."""
        return bottom_states(self.encoder, input_ids, attention_mask, self.frozen_blocks)

    def forward_from_prefix(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Head outputs from ``prefix`` states: the adapted top blocks, pooling, head."""
        top = run_blocks(self.encoder, hidden, attention_mask, self.frozen_blocks, None)
        return self.head(self.dropout(mean_pool(top, attention_mask, self.normalise)))


def frozen_below(blocks: int, layers: int | None) -> int:
    """How many bottom blocks get no adapter when only the top ``layers`` do."""
    return 0 if layers is None else max(0, blocks - layers)


def lora_target_pattern(blocks: int, layers: int | None) -> str:
    """Regex of the adapted linear layers: every block, or only the top ``layers``."""
    indexes = "|".join(str(i) for i in range(frozen_below(blocks, layers), blocks))
    return rf".*encoder\.layer\.({indexes})\.({BLOCK_LINEARS})"


def add_lora(encoder: nn.Module, settings: LoraSettings) -> tuple[nn.Module, int]:
    """Wrap the transformer with a fresh LoRA adapter (peft freezes the base weights).

    Returns the wrapped model and the number of frozen bottom blocks.
    """
    from peft import LoraConfig, get_peft_model

    blocks = n_blocks(encoder)
    if settings.layers is not None and settings.layers < blocks and not can_split(encoder):
        raise ValueError(
            f"{type(encoder).__name__} cannot run block by block: use LoRA on every layer"
        )
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=lora_target_pattern(blocks, settings.layers),
        bias="none",
        use_dora=settings.dora,
    )
    with peft_wrapping():
        wrapped = get_peft_model(encoder, config)
    return wrapped, frozen_below(blocks, settings.layers)


def freeze(module: nn.Module) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(False)


def count_trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def pick_device(requested: str | None) -> torch.device:
    """The requested device, else CUDA when present, else the CPU."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
