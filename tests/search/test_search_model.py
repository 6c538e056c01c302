import json

import numpy as np
import pytest

from shoplm.search.features import FUSION_FEATURES, RERANK_FEATURES
from shoplm.search.model import MODEL_FILE, SearchModel, default_model
from shoplm.search.rerank import LinearRanker


def test_default_model_covers_every_feature():
    model = default_model()
    assert model.ranker("fusion").features == FUSION_FEATURES
    assert model.ranker("rerank").features == RERANK_FEATURES
    assert model.expansions == {}


def test_save_and_load_round_trip(tmp_path):
    ranker = LinearRanker(
        FUSION_FEATURES, np.arange(4.0), np.zeros(4), np.ones(4), {"source": "test"}
    )
    model = SearchModel({"fusion": ranker}, {"stove": [("range", 0.8)]}, {"n": 3})
    model.save(tmp_path)
    loaded = SearchModel.load(tmp_path)
    assert loaded is not None
    assert loaded.expansions == {"stove": [("range", 0.8)]}
    assert loaded.ranker("fusion").weights.tolist() == [0.0, 1.0, 2.0, 3.0]
    # a ranker it lacks falls back to the default one
    assert loaded.ranker("rerank").info["source"] == "default"


def test_stale_ranker_falls_back_to_default():
    stale = LinearRanker.from_weights({"old_feature": 1.0})
    assert SearchModel({"rerank": stale}).ranker("rerank").features == RERANK_FEATURES


def test_missing_and_broken_files(tmp_path):
    assert SearchModel.load(tmp_path) is None
    (tmp_path / MODEL_FILE).write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match=MODEL_FILE):
        SearchModel.load(tmp_path)
