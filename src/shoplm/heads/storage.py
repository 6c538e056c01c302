"""A trained head on disk: safetensors for the weights, one JSON manifest for the rest.

Layout of a head folder::

    manifest.json        task, labels, mode, base model id, LoRA config, metrics, ...
    head.safetensors     the linear head (weight, bias)
    adapter.safetensors  the LoRA adapter (lora mode only)
    lexical.json, lexical.safetensors
                         the word classifier blended in (``HeadConfig.lexical`` only;
                         :mod:`shoplm.heads.lexical`)

Nothing is pickled: loading reads tensors and JSON only.  The manifest is written last, so
a folder whose save was interrupted has none and is refused on load.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from shoplm.folders import write_text_whole

FORMAT = "shoplm-task-head/1"
MANIFEST = "manifest.json"
HEAD_FILE = "head.safetensors"
ADAPTER_FILE = "adapter.safetensors"


class HeadFormatError(ValueError):
    """A head folder that is missing files or was written by an unknown format."""


def write_head(
    folder: Path,
    manifest: dict[str, Any],
    head: dict[str, torch.Tensor],
    adapter: dict[str, torch.Tensor] | None,
    more_files: Callable[[Path], None] | None = None,
) -> Path:
    """The head's tensors, then ``more_files(folder)`` (other parts' files), then the
    manifest: until it is written the folder holds no head."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)
    save_file(_plain(head), folder / HEAD_FILE)
    if adapter is not None:
        save_file(_plain(adapter), folder / ADAPTER_FILE)
    else:
        (folder / ADAPTER_FILE).unlink(missing_ok=True)
    if more_files is not None:
        more_files(folder)
    return write_manifest(folder, manifest)


def write_manifest(
    folder: Path, manifest: dict[str, Any], name: str = MANIFEST, form: str = FORMAT
) -> Path:
    """``manifest`` (with its format) as ``folder/name``, whole or not at all."""
    write_text_whole(
        folder / name, json.dumps({"format": form, **manifest}, indent=2, sort_keys=True)
    )
    return folder


def read_manifest(
    folder: Path, name: str = MANIFEST, form: str = FORMAT, what: str = "saved task head"
) -> dict[str, Any]:
    """The JSON manifest ``folder/name``, refused unless it is of format ``form``."""
    path = Path(folder).expanduser() / name
    if not path.is_file():
        raise HeadFormatError(f"{path.parent}: no {name}, so it is not a {what}")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise HeadFormatError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != form:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise HeadFormatError(f"{path}: format {found!r}, expected {form!r}")
    return manifest


def read_tensors(folder: Path, name: str) -> dict[str, torch.Tensor]:
    path = Path(folder).expanduser() / name
    if not path.is_file():
        raise HeadFormatError(f"{path.parent}: missing {name}")
    return load_file(path)


def listed(values: np.ndarray | None) -> list[float] | None:
    """A calibration (class offsets, cutpoints) as a JSON list; None stays None."""
    return None if values is None else [float(v) for v in values]


def array_of(values: Sequence[float] | None) -> np.ndarray | None:
    """A calibration read back from a manifest's list; None stays None."""
    return None if values is None else np.asarray(values, dtype=np.float64)


def _plain(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies: safetensors refuses shared or strided storage."""
    return {name: t.detach().to("cpu").contiguous().clone() for name, t in state.items()}
