"""Run a local sentence-transformers model with ONNX Runtime: the same vectors, faster on CPU.

Why: on a few CPU cores, encoding a catalog with PyTorch is the slowest step of a fit.  The
model's transformer is exported once to ONNX with the sentence-transformers pooling and the
L2 normalisation inside the graph, optionally quantised to int8 weights (dynamic
quantisation), and run by an ONNX Runtime session.  Texts are tokenised with the model's own
fast tokenizer and batched by length, so short titles are not padded to the longest one.
A bulk encode (a catalog) runs one single-threaded session per core, each taking the next
length-sorted batch as it frees up: on small batches that keeps every core busy where one
session's thread pool waits at each operator; one text (a query) runs on one session with
every core, for latency.

The export is cached on disk next to the embedding cache, in ``onnx/<model id>/``, keyed by
the source model's id (which hashes its weights): a fine-tuned folder gets its own export,
and later processes reuse it without importing torch.

``OnnxEncoder`` offers the few methods of ``SentenceTransformer`` that ``TextEncoder`` calls
(``encode``, ``get_embedding_dimension``), so the encoder only chooses which one to load.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

EXPORT_VERSION = 1  # bump when the exported graph changes, so older exports are not reused
OPSET = 17
FP32_FILE = "model.onnx"
# signed 8-bit weights, outlier channels (>4x median) float; names the file and the cache key
INT8_SCHEME = "s8-split4"
INT8_FILE = f"model-int8-{INT8_SCHEME}.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "export.json"
POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len")
_KNOWN_MODULES = {"Transformer", "Pooling", "Normalize"}
_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


class OnnxExportError(ValueError):
    """The model folder holds something the ONNX path cannot reproduce exactly."""


def default_root() -> Path:
    """``$SHOPLM_CACHE_DIR/onnx``, else ``~/.cache/shoplm/onnx``: beside the embedding cache."""
    return Path(os.environ.get("SHOPLM_CACHE_DIR") or Path.home() / ".cache" / "shoplm") / "onnx"


def export_dir(root: Path, model_id: str) -> Path:
    """The folder of one source model's export; the id is made safe as a folder name."""
    safe = re.sub(r"[^A-Za-z0-9._@+-]", "_", model_id)
    return Path(root) / f"{safe}-v{EXPORT_VERSION}"


def read_layout(folder: Path) -> dict[str, Any]:
    """Where the transformer lives, how its output is pooled, and whether text is lower-cased.

    Only Transformer -> Pooling (-> Normalize) pipelines are supported: any other module
    (Dense, LayerNorm...) would be silently dropped, so it is an error instead.
    """
    folder = Path(folder)
    modules_file = folder / "modules.json"
    if not modules_file.is_file():  # a plain transformers folder: sentence-transformers means
        return {"transformer": folder, "pooling": "mean", "do_lower_case": False}
    modules = json.loads(modules_file.read_text())
    kinds = {str(m.get("type", "")).rsplit(".", 1)[-1]: m for m in modules}
    extra = [
        str(m.get("type"))
        for m in modules
        if str(m.get("type", "")).rsplit(".", 1)[-1] not in _KNOWN_MODULES
    ]
    if extra or "Transformer" not in kinds:
        raise OnnxExportError(
            f"{modules_file}: the onnx backends support Transformer -> Pooling (-> Normalize) "
            f"models only, this one has {extra or 'no Transformer'}; use encoder.backend 'torch'"
        )
    transformer = folder / str(kinds["Transformer"].get("path") or "")
    pooling = "mean"
    if "Pooling" in kinds:
        pooling = _pooling_mode(folder / str(kinds["Pooling"].get("path") or ""))
    lower = False
    for name in ("sentence_bert_config.json", "sentence_transformers_config.json"):
        config = transformer / name
        if config.is_file():
            lower = bool(json.loads(config.read_text()).get("do_lower_case", False))
            break
    return {"transformer": transformer, "pooling": pooling, "do_lower_case": lower}


def _pooling_mode(pooling_dir: Path) -> str:
    config_file = pooling_dir / "config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    if isinstance(config.get("pooling_mode"), str):
        mode = config["pooling_mode"].replace("_tokens", "").replace("_token", "")
        modes = [mode]
    else:
        modes = [
            name
            for name, key in (
                ("cls", "pooling_mode_cls_token"),
                ("mean", "pooling_mode_mean_tokens"),
                ("max", "pooling_mode_max_tokens"),
                ("mean_sqrt_len", "pooling_mode_mean_sqrt_len_tokens"),
            )
            if config.get(key)
        ] or ["mean"]
    if len(modes) != 1 or modes[0] not in POOLING_MODES:
        raise OnnxExportError(
            f"{config_file}: pooling {modes} is not supported by the onnx backends "
            f"(one of {POOLING_MODES}); use encoder.backend 'torch'"
        )
    return modes[0]


def ensure_export(folder: Path, model_id: str, root: Path, int8: bool = False) -> Path:
    """The export folder of ``folder``'s model, exporting (and quantising) only what is missing."""
    target = export_dir(root, model_id)
    if not (target / META_FILE).is_file():
        _export(Path(folder), model_id, target)
    if int8 and not (target / INT8_FILE).is_file():
        quantize(target / FP32_FILE, target / INT8_FILE)
    return target


def _export(folder: Path, model_id: str, target: Path) -> None:
    """torch -> ONNX with pooling and normalisation in the graph; written atomically."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel, AutoTokenizer

    layout = read_layout(folder)
    tokenizer = AutoTokenizer.from_pretrained(
        str(layout["transformer"]), local_files_only=True, use_fast=True
    )
    if not getattr(tokenizer, "is_fast", False):
        raise OnnxExportError(f"{folder} has no fast tokenizer; use encoder.backend 'torch'")
    model = AutoModel.from_pretrained(
        str(layout["transformer"]), local_files_only=True, attn_implementation="eager"
    ).eval()
    sample = tokenizer(["a red phone case", "garden hose"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    wrapper = _pooled_module(model, layout["pooling"], names).eval()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        axes = {name: {0: "batch", 1: "sequence"} for name in names}
        with torch.no_grad(), warnings.catch_warnings():
            # the tracer's warnings concern shapes that are constant for encoder models
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                tuple(sample[n] for n in names),
                str(work / FP32_FILE),
                input_names=names,
                output_names=["embedding"],
                dynamic_axes={**axes, "embedding": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
            dim = int(wrapper(*(sample[n] for n in names)).shape[1])
        tokenizer.backend_tokenizer.save(str(work / TOKENIZER_FILE))
        meta = {
            "source_model_id": model_id,
            "export_version": EXPORT_VERSION,
            "inputs": names,
            "dim": dim,
            "pooling": layout["pooling"],
            "do_lower_case": layout["do_lower_case"],
            "max_position": int(getattr(model.config, "max_position_embeddings", 512) or 512),
            "pad_id": int(tokenizer.pad_token_id or 0),
            "torch": torch.__version__,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (work / META_FILE).write_text(json.dumps(meta, indent=2))
        target.mkdir(parents=True, exist_ok=True)
        for name in (FP32_FILE, TOKENIZER_FILE, META_FILE):  # the meta file last: it marks done
            os.replace(work / name, target / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def quantize(source: Path, target: Path) -> None:
    """8-bit weights, activations quantised at run time, outlier channels split off in float.

    Signed 8-bit weights against unsigned activations is the kernel x86 CPUs run fastest
    (u8 x s8 multiply-add, also without VNNI): on 2000 Home Depot titles it encoded 1.25x
    faster than unsigned weights at nearly the same agreement with the float vectors.  The
    split (``int8_outliers``) keeps the feed-forward outputs' few huge channels out of the
    8-bit scales.  Written atomically.
    """
    from shoplm.text.int8_outliers import quantize_with_outlier_split

    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        quantize_with_outlier_split(source, work / target.name)
        os.replace(work / target.name, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _pooled_module(base: Any, mode: str, names: Sequence[str]) -> Any:
    """``base`` returning pooled, unit-length sentence vectors as sentence-transformers does."""
    import torch

    class Pooled(torch.nn.Module):
        """transformer -> sentence-transformers pooling -> unit length, as one graph."""

        def __init__(self) -> None:
            super().__init__()
            self.base = base

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            named = dict(zip(names, inputs, strict=True))
            tokens = self.base(**named).last_hidden_state
            return pool_tokens(tokens, named["attention_mask"], mode)

    return Pooled()


def pool_tokens(tokens: Any, attention_mask: Any, mode: str) -> Any:
    """Token states ``[batch, length, dim]`` to unit-length sentence vectors, by ``mode``."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
    if mode == "cls":
        pooled = tokens[:, 0]
    elif mode == "max":
        pooled = tokens.masked_fill(mask == 0, -1e9).max(dim=1).values
    else:
        summed = (tokens * mask).sum(dim=1)
        counts = mask.sum(dim=1).clamp(min=1e-9)
        pooled = summed / (counts.sqrt() if mode == "mean_sqrt_len" else counts)
    return torch.nn.functional.normalize(pooled, p=2.0, dim=1)


class OnnxEncoder:
    """An ONNX Runtime session plus the model's tokenizer; encodes like ``SentenceTransformer``."""

    def __init__(
        self,
        export: Path,
        int8: bool = False,
        max_seq_length: int = 128,
        threads: int | None = None,
        graph: bytes | None = None,
    ) -> None:
        """``graph`` (serialised ONNX) replaces the export's model file, e.g. one with extra
        outputs for calibration; the tokenizer and inputs are the export's."""
        from tokenizers import Tokenizer

        self.export = Path(export)
        self.meta = json.loads((self.export / META_FILE).read_text())
        self.int8 = int8
        self.graph = graph
        self.inputs: list[str] = list(self.meta["inputs"])
        self.do_lower_case = bool(self.meta.get("do_lower_case"))
        self.pad_id = int(self.meta.get("pad_id", 0))
        self.max_seq_length = min(int(max_seq_length), int(self.meta.get("max_position", 512)))
        self.tokenizer = Tokenizer.from_file(str(self.export / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.threads = threads or len(os.sched_getaffinity(0))
        self.session = self._open_session(self.threads)
        self._bulk: ThreadPoolExecutor | None = None
        self._bulk_sessions = threading.local()
        self._bulk_lock = threading.Lock()

    def _open_session(self, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        model = self.graph or str(self.export / (INT8_FILE if self.int8 else FP32_FILE))
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    @classmethod
    def load(
        cls,
        folder: Path,
        model_id: str,
        int8: bool = False,
        max_seq_length: int = 128,
        root: Path | None = None,
        threads: int | None = None,
    ) -> OnnxEncoder:
        """Export ``folder``'s model on first use (cached under ``root``), then open it."""
        export = ensure_export(folder, model_id, root or default_root(), int8=int8)
        return cls(export, int8=int8, max_seq_length=max_seq_length, threads=threads)

    def get_embedding_dimension(self) -> int:
        return int(self.meta["dim"])

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        show_progress_bar: bool = False,
        **_ignored: Any,
    ) -> np.ndarray:
        """float32 ``[len(texts), dim]`` unit vectors (pooled and normalised in the graph)."""
        out = np.zeros((len(texts), self.get_embedding_dimension()), dtype=np.float32)
        if not len(texts):
            return out
        encodings = self.tokenize(texts)
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
        with tqdm(
            total=len(texts), desc="encoding", unit="text", disable=not show_progress_bar
        ) as bar:
            if self.threads < 2 or len(batches) < 2 * self.threads:
                for rows in batches:
                    out[rows] = self._run(self.session, [encodings[i] for i in rows])
                    bar.update(len(rows))
                return out
            pool = self._bulk_pool()
            futures = {
                pool.submit(self._run_bulk, [encodings[i] for i in rows]): rows for rows in batches
            }
            for future in as_completed(futures):
                rows = futures[future]
                out[rows] = future.result()
                bar.update(len(rows))
        return out

    def close(self) -> None:
        """Stop the bulk worker threads (their sessions go with them)."""
        with self._bulk_lock:
            pool, self._bulk = self._bulk, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _bulk_pool(self) -> ThreadPoolExecutor:
        """One worker thread per core, each opening its own single-threaded session."""
        with self._bulk_lock:
            if self._bulk is None:
                self._bulk = ThreadPoolExecutor(
                    max_workers=self.threads, thread_name_prefix="shoplm-onnx"
                )
            return self._bulk

    def _run_bulk(self, encodings: Sequence[Any]) -> np.ndarray:
        session = getattr(self._bulk_sessions, "session", None)
        if session is None:
            session = self._bulk_sessions.session = self._open_session(1)
        return self._run(session, encodings)

    def tokenize(self, texts: Sequence[str]) -> list[Any]:
        """The tokenizer's encodings of ``texts`` (lower-cased first where the model is)."""
        return self.tokenizer.encode_batch([t.lower() if self.do_lower_case else t for t in texts])

    def feeds(self, encodings: Sequence[Any]) -> dict[str, np.ndarray]:
        """The graph's int64 inputs for one batch, padded to its longest text."""
        width = max(len(e.ids) for e in encodings)
        arrays = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in self.inputs}
        arrays["input_ids"][:] = self.pad_id
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            for name in self.inputs:
                arrays[name][row, :n] = getattr(encoding, _FIELDS[name])
        return arrays

    def _run(self, session: Any, encodings: Sequence[Any]) -> np.ndarray:
        (vectors,) = session.run(["embedding"], self.feeds(encodings))
        return vectors
