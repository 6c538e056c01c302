"""Resumable training state: tensors in safetensors files, everything else in one JSON.

A checkpoint holds the trainable weights, the best weights so far, AdamW's moments and the
torch random state, so a resumed run takes the same steps an uninterrupted one would.
Written beside the folder and swapped in whole (:func:`shoplm.folders.replaced_whole`), so
an interrupted save never leaves half a checkpoint behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shoplm.folders import replaced_whole

STATE_FILE = "state.json"
WEIGHTS_FILE = "trainable.safetensors"
BEST_FILE = "best.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
RNG_FILE = "rng.safetensors"


def save_checkpoint(
    folder: Path,
    state: dict[str, Any],
    weights: dict[str, Any],
    best: dict[str, Any],
    optimizer: Any,
) -> None:
    """Replace ``folder`` with a complete checkpoint."""
    import torch
    from safetensors.torch import save_file

    with replaced_whole(folder) as tmp:
        tmp.mkdir(parents=True)
        save_file(_contiguous(weights), tmp / WEIGHTS_FILE)
        save_file(_contiguous(best), tmp / BEST_FILE)
        tensors, groups = _optimizer_tensors(optimizer)
        save_file(tensors, tmp / OPTIMIZER_FILE)
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state()
        save_file(rng, tmp / RNG_FILE)
        state_text = json.dumps({**state, "optimizer_groups": groups}, indent=2)
        (tmp / STATE_FILE).write_text(state_text)


def load_checkpoint(folder: Path) -> dict[str, Any] | None:
    """``{"state", "weights", "best", "optimizer", "rng"}``, or None when there is none."""
    from safetensors.torch import load_file

    if not (folder / STATE_FILE).is_file():
        return None
    return {
        "state": json.loads((folder / STATE_FILE).read_text()),
        "weights": load_file(folder / WEIGHTS_FILE),
        "best": load_file(folder / BEST_FILE),
        "optimizer": load_file(folder / OPTIMIZER_FILE),
        "rng": load_file(folder / RNG_FILE),
    }


def restore_optimizer(optimizer: Any, tensors: dict[str, Any], groups: list[dict]) -> None:
    """Load AdamW moments saved by :func:`save_checkpoint` into a freshly made optimizer."""
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = tensor.reshape(()) if name == "step" else tensor
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def restore_rng(rng: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])


def _optimizer_tensors(optimizer: Any) -> tuple[dict[str, Any], list[dict]]:
    import torch

    saved = optimizer.state_dict()
    tensors = {}
    for index, slots in saved["state"].items():
        for name, value in slots.items():
            tensor = torch.as_tensor(value).detach().cpu()
            tensors[f"{index}.{name}"] = (
                tensor.reshape(1) if name == "step" else tensor
            ).contiguous()
    return tensors, saved["param_groups"]


def _contiguous(tensors: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
