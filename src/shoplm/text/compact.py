"""A smaller copy of the encoder for CPU serving: feed-forward neurons pruned on the shop's texts.

Why: on a CPU without int8 dot-product instructions (AVX2, no VNNI) the int8 ONNX model's
matrix products already run near the cores' peak, so the one lever left for catalog
encoding is fewer multiply-adds.  Two thirds of a BERT block's are in its feed-forward
layer (hidden -> 4 x hidden -> hidden).  Post-training pruning with layer-wise
reconstruction (after Kwon et al., "A Fast Post-Training Pruning Framework for
Transformers", NeurIPS 2022) removes a share of those intermediate neurons without
retraining:

1. per block, bottom to top, run the already-pruned model on calibration texts and take the
   tokens entering the block's feed-forward layer;
2. keep the ``keep`` share of intermediate neurons with the largest output contribution
   (activation norm over the tokens x norm of the neuron's output weights);
3. refit the block's output projection (ridge least squares) so the pruned layer
   reproduces the original layer's output on those tokens.

Calibration texts are the shop's own item texts plus short word spans cut from them (query
stand-ins: queries are a few words).  The result is a plain transformers + sentence-transformers
folder with a smaller ``intermediate_size`` (any backend loads it), a ``compact.json``
marker naming its source, and its agreement with the source model on held-out texts.
Optionally (``distill_epochs``) the pruned model is then trained towards the source's output
on more of the shop's texts (``shoplm.text.distill``).  Whether it is good enough is for an
evaluation to say (``bench/quality_onnx.py``).
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shoplm.folders import replaced_whole
from shoplm.text.encoder import resolve_model
from shoplm.text.onnx_backend import read_layout

if TYPE_CHECKING:
    from shoplm.engine import Engine

MARKER_FILE = "compact.json"
COMPACT_DIR = "compact"
FORMAT = 1
RIDGE = 1e-3  # relative to the mean diagonal of the normal matrix: numerical safety only

Say = Callable[[str], None]


class _Captured(Exception):
    """Raised by a forward hook once it has what it came for: the rest need not run."""


def calibration_texts(
    texts: Sequence[str], n_texts: int = 1500, n_spans: int = 600, seed: int = 42
) -> list[str]:
    """A seeded sample of the texts plus lower-cased 1-5 word spans cut from others."""
    pool = sorted({t for t in texts if t and t.strip()})
    if not pool:
        raise ValueError("compaction needs at least one non-empty item text to calibrate on")
    rng = random.Random(seed)
    chosen = rng.sample(pool, min(n_texts, len(pool)))
    spans = []
    for text in rng.choices(pool, k=n_spans):
        words = text.split()
        width = rng.randint(1, min(5, len(words)))
        start = rng.randint(0, len(words) - width)
        spans.append(" ".join(words[start : start + width]).lower())
    return chosen + spans


def folder_name(keep: float, distill_epochs: int = 0) -> str:
    """A compacted model's folder name, e.g. ``keep0.5-distill2``: its settings at a glance."""
    return f"keep{keep:g}" + (f"-distill{distill_epochs}" if distill_epochs else "")


def distillation_texts(texts: Sequence[str], n_texts: int = 8000, seed: int = 44) -> list[str]:
    """What distillation learns from: a larger seeded sample of texts, half as many spans."""
    n_spans = min(n_texts, len(set(texts))) // 2 or 1
    return calibration_texts(texts, n_texts=n_texts, n_spans=n_spans, seed=seed)


def compact_encoder(
    source: str | Path,
    texts: Sequence[str],
    target: str | Path,
    keep: float = 0.75,
    max_seq_length: int = 128,
    seed: int = 42,
    distill_epochs: int = 0,
    progress: Say | None = None,
) -> dict[str, Any]:
    """Write a pruned copy of the ``source`` model folder to ``target``; its marker as a dict.

    ``texts`` are the shop's item texts; a seeded sample calibrates, another held-out one
    measures the cosine agreement of the pruned model with the source.  ``distill_epochs``
    > 0 then trains the pruned model to reproduce the source's sentence vectors
    (``shoplm.text.distill``), which the per-block refit alone cannot: it sees each block
    in isolation, distillation the whole stack's end result.
    """
    if not 0.0 < keep < 1.0:
        raise ValueError(f"keep must be between 0 and 1 (the share of neurons kept), got {keep}")
    if distill_epochs < 0:
        raise ValueError(f"distill_epochs must be 0 (none) or more, got {distill_epochs}")
    say = progress or (lambda _msg: None)
    calibration = calibration_texts(texts, seed=seed)
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = resolve_model(str(source))
    layout = read_layout(source)
    transformer_dir = Path(layout["transformer"])
    tokenizer = AutoTokenizer.from_pretrained(str(transformer_dir), local_files_only=True)
    original = AutoModel.from_pretrained(str(transformer_dir), local_files_only=True).eval()
    pruned = AutoModel.from_pretrained(str(transformer_dir), local_files_only=True).eval()
    blocks = getattr(getattr(pruned, "encoder", None), "layer", None)
    if blocks is None or not hasattr(blocks[0], "intermediate"):
        raise ValueError(f"{source}: only BERT-style encoders (encoder.layer blocks) compact")
    width = int(original.config.intermediate_size)
    kept = max(1, round(width * keep))

    batches = [
        tokenizer(
            calibration[i : i + 100],
            padding=True,
            truncation=True,
            max_length=max_seq_length,
            return_tensors="pt",
        )
        for i in range(0, len(calibration), 100)
    ]
    errors = []
    with torch.no_grad():
        for index, block in enumerate(blocks):
            inputs = _ffn_inputs(pruned, block, batches)
            reference = original.encoder.layer[index]
            hidden = reference.intermediate(inputs)
            wanted = reference.output.dense(hidden)
            weight = reference.output.dense.weight  # [hidden, intermediate]
            contribution = hidden.norm(dim=0) * weight.norm(dim=0)
            neurons = torch.argsort(contribution, descending=True)[:kept].sort().values
            solution, error = _refit(hidden[:, neurons], wanted)
            block.intermediate.dense = _sliced_linear(reference.intermediate.dense, neurons)
            block.output.dense = _linear_from(solution)
            errors.append(round(error, 5))
            say(f"block {index}: kept {kept} of {width} neurons, relative error {error:.4f}")
    pruned.config.intermediate_size = kept
    used = set(calibration)
    distilled = None
    if distill_epochs > 0:
        from shoplm.text.distill import distill_sentence_vectors

        lessons = distillation_texts(texts, seed=seed + 2)
        used |= set(lessons)
        validation = calibration_texts(
            _unused(texts, used), n_texts=500, n_spans=250, seed=seed + 3
        )
        used |= set(validation)
        distilled = distill_sentence_vectors(
            pruned, original, tokenizer, lessons, pooling=layout["pooling"],
            epochs=distill_epochs, max_seq_length=max_seq_length, seed=seed,
            validation=validation, progress=say,
        )  # fmt: skip

    marker = {
        "format": FORMAT,
        "source_model": str(source),
        "keep": keep,
        "intermediate_size": [width, kept],
        "calibration_texts": len(calibration),
        "seed": seed,
        "relative_error_per_block": errors,
    }
    if distilled is not None:
        marker["distillation"] = distilled
    _write_folder(source, transformer_dir, pruned, tokenizer, Path(target), marker)
    say("measuring agreement with the source model on held-out texts")
    marker["agreement"] = agreement(source, Path(target), _unused(texts, used), seed=seed + 1)
    (Path(target) / MARKER_FILE).write_text(json.dumps(marker, indent=2))
    return marker


def _unused(texts: Sequence[str], used: set[str]) -> list[str]:
    """The texts not yet used for fitting; all of them for a catalog too small to spare any."""
    return [t for t in texts if t not in used] or list(texts)


def _ffn_inputs(model: Any, block: Any, batches: Sequence[Any]) -> Any:
    """The (non-padding) tokens entering ``block``'s feed-forward layer, over all batches."""
    import torch

    seen: list[Any] = []

    def capture(_module: Any, args: tuple[Any, ...]) -> None:
        seen.append(args[0])
        raise _Captured

    handle = block.intermediate.dense.register_forward_pre_hook(capture)
    rows = []
    try:
        for batch in batches:
            seen.clear()
            with contextlib.suppress(_Captured):
                model(**batch)
            rows.append(seen[0][batch["attention_mask"].bool()])
    finally:
        handle.remove()
    return torch.cat(rows)


def _refit(hidden: Any, wanted: Any) -> tuple[Any, float]:
    """Ridge least squares ``[hidden, 1] @ solution ~ wanted``; the solution and its error."""
    import torch

    design = torch.cat([hidden, torch.ones(len(hidden), 1)], dim=1).double()
    normal = design.T @ design
    normal += RIDGE * normal.diagonal().mean() * torch.eye(len(normal), dtype=normal.dtype)
    solution = torch.linalg.solve(normal, design.T @ wanted.double()).float()
    error = float((design.float() @ solution - wanted).norm() / wanted.norm())
    return solution, error


def _sliced_linear(layer: Any, rows: Any) -> Any:
    import torch

    sliced = torch.nn.Linear(layer.in_features, len(rows))
    sliced.weight.copy_(layer.weight[rows])
    sliced.bias.copy_(layer.bias[rows])
    return sliced


def _linear_from(solution: Any) -> Any:
    """A Linear layer from a ``[inputs + 1, outputs]`` solution (last row: the bias)."""
    import torch

    layer = torch.nn.Linear(solution.shape[0] - 1, solution.shape[1])
    layer.weight.copy_(solution[:-1].T)
    layer.bias.copy_(solution[-1])
    return layer


def _write_folder(
    source: Path, transformer_dir: Path, model: Any, tokenizer: Any, target: Path, marker: dict
) -> None:
    """The source folder's files with the pruned weights and config; written atomically."""
    with replaced_whole(target) as work:
        shutil.copytree(source, work, ignore=shutil.ignore_patterns(
            "*.safetensors", "*.bin", "*.onnx", "finetune.json", MARKER_FILE, "README.md",
        ))  # fmt: skip
        inner = work / transformer_dir.relative_to(source)
        model.save_pretrained(str(inner))
        tokenizer.save_pretrained(str(inner))
        (work / MARKER_FILE).write_text(json.dumps(marker, indent=2))


def agreement(
    source: Path, compact: Path, texts: Sequence[str], n: int = 500, seed: int = 43
) -> dict[str, float]:
    """Cosine between the two models' vectors on held-out texts and spans (mean and min)."""
    from shoplm.finetune.model import load_sentence_model

    sample = calibration_texts(texts, n_texts=n, n_spans=n, seed=seed)
    first = load_sentence_model(str(source), device="cpu")
    second = load_sentence_model(str(compact), device="cpu")
    kinds = {"texts": sample[:-n], "spans": sample[-n:]}
    result = {}
    for kind, part in kinds.items():
        a = first.encode(part, normalize_embeddings=True, batch_size=64)
        b = second.encode(part, normalize_embeddings=True, batch_size=64)
        cosine = np.sum(a * b, axis=1)
        result[f"{kind}_cosine_mean"] = round(float(cosine.mean()), 5)
        result[f"{kind}_cosine_min"] = round(float(cosine.min()), 5)
    return result


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """The compaction marker of a model folder, or None for a folder that was not compacted."""
    path = Path(folder) / MARKER_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def compact_home(
    engine: Engine,
    keep: float = 0.75,
    distill_epochs: int = 0,
    use_it: bool = True,
    progress: Say | None = None,
) -> dict[str, Any]:
    """Compact the home's encoder on every platform's item texts; optionally switch to it.

    The source is the home's current ``encoder.model`` (the bundled MiniLM, or the folder
    ``shoplm finetune`` made), so compact after fine-tuning.  The copy goes to
    ``<home>/compact/keep<share>[-distill<epochs>]/``; with ``use_it`` it becomes
    ``encoder.model`` and the next ``fit`` re-encodes the catalog with it (the cache is keyed
    by model id).
    """
    texts = [
        item.text() for platform in engine.store.platforms()
        for item in engine.store.iter_items(platform)
    ]  # fmt: skip
    if not texts:
        raise ValueError("the home has no items: ingest a catalog first, compaction learns from it")
    source = engine.settings.encoder.model
    target = Path(engine.home) / COMPACT_DIR / folder_name(keep, distill_epochs)
    marker = compact_encoder(
        source, texts, target, keep=keep,
        max_seq_length=engine.settings.encoder.max_seq_length, seed=engine.settings.seed,
        distill_epochs=distill_epochs, progress=progress,
    )  # fmt: skip
    folder = str(target.resolve())  # as config.json's relative entry loads back, and finetune's
    result = {"model_folder": folder, "items": len(texts), **marker}
    if use_it:
        engine.settings.encoder.model = folder
        engine.settings.save(engine.home)
        result["encoder_set"] = True
    return result
