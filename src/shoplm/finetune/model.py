"""The sentence-transformers model being tuned: loading, LoRA adapters, merging, swapping.

LoRA adapters go through the transformers/peft integration on the model inside the
sentence-transformers pipeline, so the pooling and normalisation stay as they are and an
adapter can be added, saved, loaded or switched on an already-loaded base (one base in
memory, one small adapter per platform).  Adapters are stored in peft's own layout
(``adapter_model.safetensors`` + ``adapter_config.json``), never pickled.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shoplm.text.blocks import can_split, n_blocks
from shoplm.text.encoder import resolve_model
from shoplm.text.peft_wrapping import peft_wrapping

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
DEFAULT_ADAPTER = "default"
PEFT_PREFIX = "base_model.model."


@dataclass
class LoraSettings:
    """Rank, scale and where LoRA goes: by default the attention's query/key/value.

    ``layers`` limits the adapter to the top N transformer blocks (None: every block); the
    blocks below are then frozen, which lets training compute their output once per text.
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ("query", "key", "value")
    layers: int | None = None

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha < 1:
            raise ValueError(f"LoRA r and alpha must be >= 1, got {self.r}, {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        if self.layers is not None and self.layers < 1:
            raise ValueError(f"LoRA layers must be >= 1 (or None for all), got {self.layers}")
        self.target_modules = tuple(self.target_modules)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "target_modules": list(self.target_modules)}


def pick_device(device: str | None = None) -> str:
    """The named device, else cuda when torch sees one, else cpu."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_sentence_model(model: str, device: str | None = None) -> Any:
    """A SentenceTransformer from the bundled MiniLM or a local folder; never downloads."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(
            str(resolve_model(model)), device=pick_device(device), local_files_only=True
        )
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def add_lora(st_model: Any, settings: LoraSettings, name: str = DEFAULT_ADAPTER) -> int:
    """Attach a fresh LoRA adapter and freeze every other weight.

    Returns how many bottom blocks carry no adapter (0 unless ``settings.layers`` is set).
    """
    from peft import LoraConfig

    blocks = n_blocks(st_model[0].auto_model)
    frozen = 0 if settings.layers is None else max(0, blocks - settings.layers)
    if frozen and not can_split(st_model[0].auto_model):
        raise ValueError("this model cannot be adapted block by block: leave lora layers unset")
    _check_targets(st_model[0].auto_model, settings.target_modules)
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        layers_to_transform=list(range(frozen, blocks)) if frozen else None,
        layers_pattern="layer" if frozen else None,
        bias="none",
    )
    st_model.add_adapter(config, adapter_name=name)
    st_model.set_adapter(name)
    for param_name, param in st_model.named_parameters():
        param.requires_grad = f"lora_A.{name}." in param_name or f"lora_B.{name}." in param_name
    return frozen


def _check_targets(model: Any, targets: tuple[str, ...]) -> None:
    """Every target must name a linear layer: peft alone skips a typo if another name matches."""
    import torch

    linear = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    }
    unknown = [target for target in targets if target not in linear]
    if unknown:
        raise ValueError(
            f"LoRA target {unknown[0]!r} names no linear layer of the encoder; "
            f"it has {', '.join(sorted(linear))}"
        )


def parameter_counts(st_model: Any) -> dict[str, int]:
    """Trainable and total parameters (LoRA weights count in the total)."""
    params = list(st_model.parameters())
    return {
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "total": sum(p.numel() for p in params),
    }


def trainable_state(st_model: Any) -> dict[str, Any]:
    """Detached CPU copies of the trainable weights, by parameter name."""
    return {
        name: p.detach().to("cpu").clone()
        for name, p in st_model.named_parameters()
        if p.requires_grad
    }


def load_trainable_state(st_model: Any, state: dict[str, Any]) -> None:
    """Copy weights saved by :func:`trainable_state` back in (names must all match)."""
    import torch

    params = dict(st_model.named_parameters())
    missing = [n for n in state if n not in params]
    if missing:
        raise ValueError(f"saved weight {missing[0]!r} is not a parameter of this model")
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor.to(params[name].device))


def save_adapter(st_model: Any, folder: Path, name: str = DEFAULT_ADAPTER) -> Path:
    """Write one adapter as peft's ``adapter_model.safetensors`` + ``adapter_config.json``."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    inner = st_model[0].auto_model
    folder.mkdir(parents=True, exist_ok=True)
    weights = get_peft_model_state_dict(inner, adapter_name=name)
    # peft's own files name weights from the wrapping PeftModel; both loaders accept that.
    save_file(
        {PEFT_PREFIX + k: v.detach().cpu().contiguous() for k, v in weights.items()},
        folder / ADAPTER_WEIGHTS,
    )
    config = inner.peft_config[name].to_dict()
    for key, value in config.items():
        if isinstance(value, set):
            config[key] = sorted(value)
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, default=str))
    return folder


def load_adapter(st_model: Any, folder: Path, name: str, activate: bool = True) -> None:
    """Load an adapter onto an already-loaded base (the base weights are not reloaded).

    Loading a second adapter under another name keeps the first in memory; ``activate``
    switches the model to the new one (``switch_adapter`` switches back).
    """
    folder = Path(folder)
    if not (folder / ADAPTER_WEIGHTS).is_file() or not (folder / ADAPTER_CONFIG).is_file():
        raise FileNotFoundError(
            f"{folder} is not a LoRA adapter folder: "
            f"it needs {ADAPTER_WEIGHTS} and {ADAPTER_CONFIG}"
        )
    with warnings.catch_warnings():
        # peft warns whenever a model gets a second adapter: here that is the point.
        warnings.filterwarnings("ignore", message="Already found a `peft_config`")
        st_model.load_adapter(str(folder), adapter_name=name)
    if activate:
        switch_adapter(st_model, name)


def switch_adapter(st_model: Any, name: str) -> None:
    """Make ``name`` the active adapter (it must have been added or loaded)."""
    st_model.set_adapter(name)


def merge_into_folder(base: str, adapter: Path, out: Path, device: str | None = None) -> Path:
    """Base + adapter merged into plain weights, saved as a sentence-transformers folder.

    The folder works as ``encoder.model`` with no peft at serve time, and its files (hence
    ``folder_model_id``) differ from the base's, so cached vectors of the two never mix.
    """
    from peft import PeftModel

    st_model = load_sentence_model(base, device or "cpu")
    module = st_model[0]
    with peft_wrapping():
        peft_model = PeftModel.from_pretrained(module.auto_model, str(adapter))
    module.model = peft_model.merge_and_unload()
    return save_model_folder(st_model, out)


def save_model_folder(st_model: Any, out: Path) -> Path:
    """Save a whole sentence-transformers model (safetensors weights, JSON configs)."""
    from transformers.utils import logging as hf_logging

    out.mkdir(parents=True, exist_ok=True)
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # "Writing model shards" on stderr is noise
    try:
        st_model.save(str(out), safe_serialization=True)
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
    return out
