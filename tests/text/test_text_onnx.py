import json
from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import ValidationError

from shoplm.config import DEFAULT_ENCODER, EncoderSettings, Settings
from shoplm.text import onnx_backend
from shoplm.text.cache import EmbeddingCache
from shoplm.text.encoder import TextEncoder

TEXTS = [
    "red silicone phone case",
    "Phone cover in red silicone, fits most models",
    "garden hose 50 ft",
    "espresso coffee machine with milk frother and two cups, stainless steel",
    "",
    "x",
    " ".join(["cordless drill driver kit with two batteries"] * 40),  # past max_seq_length
]
INT8_MIN_COSINE = 0.98  # product texts (about 0.99 measured on Home Depot titles)
INT8_MIN_COSINE_TINY = 0.95  # "" and "x": one or two tokens, quantisation error shows most


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache folder per test session: the export (seconds) happens once."""
    with EmbeddingCache(tmp_path_factory.mktemp("shoplm-cache") / "embeddings.sqlite") as cache:
        yield cache


@pytest.fixture(scope="module")
def torch_vectors():
    return TextEncoder(EncoderSettings()).encode(TEXTS)


@pytest.fixture(scope="module")
def onnx_encoder(cache):
    return TextEncoder(EncoderSettings(backend="onnx"), cache=cache)


@pytest.fixture(scope="module")
def int8_encoder(cache):
    return TextEncoder(EncoderSettings(backend="onnx-int8"), cache=cache)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_onnx_fp32_matches_torch(onnx_encoder, torch_vectors):
    vectors = onnx_encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (1 - _cosines(vectors, torch_vectors)).max() < 1e-4
    assert onnx_encoder.dim == 384
    assert onnx_encoder.encode([]).shape == (0, 384)


def test_onnx_batches_by_length_without_changing_vectors(onnx_encoder):
    """Sorting by length and padding per batch must not leak into the vectors."""
    one_by_one = np.stack([onnx_encoder.encode([t])[0] for t in TEXTS])
    onnx_encoder.settings.batch_size = 2  # mixed lengths in several batches
    try:
        batched = onnx_encoder.encode(TEXTS)
        np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    finally:
        onnx_encoder.settings.batch_size = None


def test_onnx_int8_is_close_to_torch(int8_encoder, torch_vectors):
    vectors = int8_encoder.encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = _cosines(vectors, torch_vectors)
    assert cosines[:4].min() > INT8_MIN_COSINE
    assert cosines.min() > INT8_MIN_COSINE_TINY
    # still a semantic encoder: the two phone cases are nearer each other than to the hose
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3


def test_each_backend_has_its_own_cache_key(onnx_encoder, int8_encoder, cache):
    torch_encoder = TextEncoder(EncoderSettings(), cache=cache)
    ids = {torch_encoder.model_id, onnx_encoder.model_id, int8_encoder.model_id}
    int8_id = f"{DEFAULT_ENCODER}+onnx-int8-{onnx_backend.INT8_SCHEME}"
    assert ids == {DEFAULT_ENCODER, f"{DEFAULT_ENCODER}+onnx", int8_id}
    assert onnx_encoder.source_model_id == int8_encoder.source_model_id == DEFAULT_ENCODER
    first = int8_encoder.encode_cached(TEXTS[:3])
    assert int8_encoder.last_stats == {"cached": 0, "encoded": 3}
    onnx_encoder.encode_cached(TEXTS[:3])
    assert onnx_encoder.last_stats == {"cached": 0, "encoded": 3}  # int8 rows are not reused
    again = int8_encoder.encode_cached(TEXTS[:3])
    assert int8_encoder.last_stats == {"cached": 3, "encoded": 0}
    np.testing.assert_allclose(again, first, atol=1e-6)
    assert cache.count(int8_encoder.model_id) == 3 and cache.count(DEFAULT_ENCODER) == 0


def test_encode_query_uses_the_onnx_session(onnx_encoder, torch_vectors):
    query = onnx_encoder.encode_query(TEXTS[2])
    assert float(query @ torch_vectors[2]) > 1 - 1e-4
    # torch would give the same vector: check which model answered
    assert isinstance(onnx_encoder._loaded(), onnx_backend.OnnxEncoder)


def test_export_is_cached_beside_the_embedding_cache_and_reused(
    onnx_encoder, int8_encoder, cache, monkeypatch
):
    onnx_encoder.encode(TEXTS[:1])
    int8_encoder.encode(TEXTS[:1])
    folder = onnx_backend.export_dir(cache.path.parent / "onnx", DEFAULT_ENCODER)
    assert (folder / onnx_backend.FP32_FILE).is_file()
    assert (folder / onnx_backend.INT8_FILE).is_file()
    meta = json.loads((folder / onnx_backend.META_FILE).read_text())
    assert meta["source_model_id"] == DEFAULT_ENCODER and meta["pooling"] == "mean"
    stamp = (folder / onnx_backend.FP32_FILE).stat().st_mtime_ns

    def no_export(*args, **kwargs):
        raise AssertionError("the cached export should have been reused")

    monkeypatch.setattr(onnx_backend, "_export", no_export)
    monkeypatch.setattr(onnx_backend, "quantize", no_export)
    fresh = TextEncoder(EncoderSettings(backend="onnx-int8"), cache=cache)
    assert fresh.encode(TEXTS[:2]).shape == (2, 384)
    assert (folder / onnx_backend.FP32_FILE).stat().st_mtime_ns == stamp


def test_a_cache_without_a_folder_keeps_the_export_in_the_default_root(tmp_path, monkeypatch):
    """The pgvector embedding cache has no file: the export goes to $SHOPLM_CACHE_DIR/onnx."""
    monkeypatch.setenv("SHOPLM_CACHE_DIR", str(tmp_path))
    seen = {}

    def fake_load(cls, *args, **kwargs):
        seen.update(kwargs)
        return "session"

    monkeypatch.setattr(onnx_backend.OnnxEncoder, "load", classmethod(fake_load))
    encoder = TextEncoder(EncoderSettings(backend="onnx"), cache=SimpleNamespace(url="pg"))
    assert encoder._loaded() == "session"
    assert seen["root"] == tmp_path / "onnx"


def test_bad_backend_is_a_clear_validation_error(tmp_path):
    with pytest.raises(ValidationError, match="backend") as info:
        EncoderSettings(backend="tensorrt")
    assert "onnx-int8" in str(info.value)
    (tmp_path / "config.json").write_text(json.dumps({"encoder": {"backend": "onnx8"}}))
    with pytest.raises(ValidationError, match=r"encoder\.backend"):
        Settings.load(tmp_path)


def test_unsupported_module_pipeline_is_refused(tmp_path):
    """A model with a Dense head would lose it in the export: refused, naming the fix."""
    modules = [
        {"path": path, "type": f"sentence_transformers.models.{kind}"}
        for path, kind in (("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Dense", "Dense"))
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(onnx_backend.OnnxExportError, match=r"Dense.*backend 'torch'"):
        onnx_backend.read_layout(tmp_path)
    (tmp_path / "modules.json").write_text(json.dumps(modules[:2]))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    assert onnx_backend.read_layout(tmp_path)["pooling"] == "cls"


def test_bulk_encoding_runs_one_session_per_core_with_the_same_vectors(tmp_path):
    """Many batches go to single-threaded per-core sessions; vectors must not change."""
    from shoplm.text.encoder import resolve_model

    export = onnx_backend.ensure_export(resolve_model(DEFAULT_ENCODER), "bulk-test", tmp_path)
    encoder = onnx_backend.OnnxEncoder(export, threads=2)
    try:
        one_by_one = np.stack([encoder.encode([t])[0] for t in TEXTS])
        assert encoder._bulk is None  # one text: the all-cores session
        bulk = encoder.encode(TEXTS, batch_size=1)
        assert encoder._bulk is not None
        np.testing.assert_allclose(bulk, one_by_one, atol=1e-5)
    finally:
        encoder.close()
    assert encoder._bulk is None
