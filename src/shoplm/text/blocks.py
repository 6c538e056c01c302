"""Run a BERT-style transformer block by block, pooled the sentence-transformers way.

When only the top blocks of an encoder learn (LoRA on the top N, a task head on top), the
bottom blocks give every text the same output at every step.  Splitting the forward pass
lets a trainer run the frozen bottom once per text, keep its token states, and run only the
top each step: on a CPU that is most of an epoch saved.  Task heads and encoder fine-tuning
both split the model here, so the two agree on masks and pooling.
"""

from __future__ import annotations

import torch
from torch import nn


def inner_model(encoder: nn.Module) -> nn.Module:
    """The transformer itself, inside a peft wrapper or not."""
    get_base = getattr(encoder, "get_base_model", None)
    return get_base() if callable(get_base) else encoder


def n_blocks(encoder: nn.Module) -> int:
    return int(inner_model(encoder).config.num_hidden_layers)


def can_split(encoder: nn.Module) -> bool:
    """BERT-style models (embeddings + encoder.layer blocks) can run block by block."""
    model = inner_model(encoder)
    return hasattr(model, "embeddings") and hasattr(getattr(model, "encoder", None), "layer")


def mean_pool(
    hidden: torch.Tensor, attention_mask: torch.Tensor, normalise: bool = True
) -> torch.Tensor:
    """Average of the token vectors, padding excluded, L2-normalised (sentence-transformers)
    unless ``normalise`` is off."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * mask).sum(dim=1)
    pooled = summed / mask.sum(dim=1).clamp(min=1e-9)
    return nn.functional.normalize(pooled, p=2, dim=1) if normalise else pooled


def run_blocks(
    encoder: nn.Module,
    hidden: torch.Tensor,
    attention_mask: torch.Tensor,
    start: int,
    stop: int | None,
) -> torch.Tensor:
    """Token states after blocks ``start..stop`` of ``encoder``, from the states before them."""
    from transformers.masking_utils import create_bidirectional_mask

    model = inner_model(encoder)
    mask = create_bidirectional_mask(
        config=model.config, inputs_embeds=hidden, attention_mask=attention_mask
    )
    for block in model.encoder.layer[start:stop]:
        out = block(hidden, mask)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


def bottom_states(
    encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, blocks: int
) -> torch.Tensor:
    """Token states after the bottom ``blocks`` blocks (no gradient: nothing there learns)."""
    model = inner_model(encoder)
    with torch.no_grad():
        hidden = model.embeddings(input_ids=input_ids)
        return run_blocks(encoder, hidden, attention_mask, 0, blocks)
