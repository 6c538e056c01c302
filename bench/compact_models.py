"""The compacted encoder of one dataset's catalog (``shoplm.text.compact``), built once.

Benches that compare a compacted encoder with the full one build it here from the
dataset's own item texts (never its queries or judgments) and reuse the folder on later
runs: ``bench/results/compact/<dataset>-keep<share>[-distill<epochs>]/``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "compact"


def variant_name(backend: str, keep: float, distill_epochs: int = 0) -> str:
    """How a bench labels a backend on a compacted model, e.g. ``onnx-int8+ffn0.5+distill2``."""
    return f"{backend}+ffn{keep:g}" + (f"+distill{distill_epochs}" if distill_epochs else "")


def encoder_variants(
    backends: Sequence[str], keeps: Sequence[float], data: Path, distill_epochs: int = 0
) -> dict:
    """Encoder settings per label: each backend, then the onnx ones on each compacted model."""
    found = {backend: {"backend": backend} for backend in backends}
    for keep in keeps:
        folder = str(compact_for(data, keep, distill_epochs))
        for backend in backends:
            if backend.startswith("onnx"):
                label = variant_name(backend, keep, distill_epochs)
                found[label] = {"backend": backend, "model": folder}
    return found


def compact_for(data: Path, keep: float, distill_epochs: int = 0, root: Path = RESULTS) -> Path:
    """The folder of ``data``'s catalog-calibrated compact encoder, building it if missing."""
    from shoplm.config import DEFAULT_ENCODER
    from shoplm.datasets import load_dataset
    from shoplm.text.compact import compact_encoder, folder_name, read_marker

    target = Path(root) / f"{Path(data).name}-{folder_name(keep, distill_epochs)}"
    marker = read_marker(target)
    if marker is not None and marker.get("keep") == keep:
        return target
    texts = [item.text() for item in load_dataset(data).items]
    print(f"[compact] {Path(data).name}: pruning to {keep:g} of the neurons", file=sys.stderr)
    compact_encoder(
        DEFAULT_ENCODER, texts, target, keep=keep, distill_epochs=distill_epochs,
        progress=lambda msg: print(f"[compact] {msg}", file=sys.stderr, flush=True),
    )  # fmt: skip
    return target
