"""The small JSON that says what a fine-tuned encoder is: base, platform, data, metrics.

Written beside the adapter (``manifest.json``) with the full report, and a short stable
copy (``finetune.json``: no times, so identical training gives identical files and model
ids) inside the merged model folder, so the folder alone tells which base it came from.
"""

from __future__ import annotations

import json
import platform as host
from pathlib import Path
from typing import Any

from shoplm.folders import write_text_whole

MANIFEST_FILE = "manifest.json"
FOLDER_MARKER = "finetune.json"
FORMAT = 1


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write atomically (temp file, then rename)."""
    return write_text_whole(path, json.dumps(payload, indent=2, ensure_ascii=False, default=str))


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a fine-tuning output folder (or of a merged model folder)."""
    for name in (MANIFEST_FILE, FOLDER_MARKER):
        path = Path(folder) / name
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"{path} has format {data.get('format')!r}, expected {FORMAT}")
            return data
    raise FileNotFoundError(f"{folder} holds no {MANIFEST_FILE} or {FOLDER_MARKER}")


def base_of(model: str) -> str:
    """The base a model was tuned from (a merged folder names it), else the model itself.

    Tuning a tuned folder again would stack one shop's tuning on another's; the CLI tunes
    from the base instead.
    """
    marker = Path(model).expanduser() / FOLDER_MARKER
    if marker.is_file():
        return str(json.loads(marker.read_text()).get("base_model", model))
    return model


def machine() -> dict[str, str]:
    return {"python": host.python_version(), "system": host.system(), "machine": host.machine()}


def folder_marker(manifest: dict[str, Any]) -> dict[str, Any]:
    """The deterministic part of a manifest, kept inside the merged model folder."""
    keys = ("format", "base_model", "platform", "mode", "data_hash", "lora", "config")
    return {k: manifest[k] for k in keys if k in manifest}
