"""The network: the shared transformer, mean pooled like sentence-transformers, plus a head.

The pooled vector is L2-normalised, the same vector the rest of shoplm searches with, so a
probe head and a LoRA head see the same kind of input.  LoRA wraps only the transformer
(``peft``); the head is a plain ``nn.Linear`` beside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from shoplm.config import DEFAULT_ENCODER
from shoplm.heads.config import LoraSettings
from shoplm.text.encoder import folder_model_id, resolve_model


@dataclass
class Base:
    """A loaded base model: its tokenizer, transformer, vector size and stable id."""

    tokenizer: Any
    encoder: nn.Module
    dim: int
    model_id: str


def load_base(model: str = DEFAULT_ENCODER) -> Base:
    """The local transformer and tokenizer of a sentence-transformers folder; never downloads."""
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
    model_id = DEFAULT_ENCODER if model == DEFAULT_ENCODER else folder_model_id(path)
    return Base(tokenizer, encoder, int(encoder.config.hidden_size), model_id)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors, padding excluded, L2-normalised (sentence-transformers)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * mask).sum(dim=1)
    pooled = summed / mask.sum(dim=1).clamp(min=1e-9)
    return nn.functional.normalize(pooled, p=2, dim=1)


class HeadNet(nn.Module):
    """Transformer (optionally LoRA-adapted) -> pooled vector -> linear head."""

    def __init__(self, encoder: nn.Module, dim: int, n_outputs: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(dim, n_outputs)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(hidden.last_hidden_state, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(input_ids, attention_mask))


def add_lora(encoder: nn.Module, settings: LoraSettings) -> nn.Module:
    """Wrap the transformer with a fresh LoRA adapter; the base weights are frozen by peft."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        bias="none",
    )
    return get_peft_model(encoder, config)


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
