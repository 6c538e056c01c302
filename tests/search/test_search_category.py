import numpy as np
import pytest

from shoplm.search.category import CategoryPredictor, _readable


def test_from_catalog_predicts_the_category_of_similar_items(fitted, encoder):
    predictor, ids = CategoryPredictor.from_catalog(
        list(fitted.catalog.categories), fitted.embeddings, encoder
    )
    assert predictor is not None
    assert len(predictor) == len(set(fitted.catalog.categories))
    assert ids.min() >= 0 and predictor.labels[ids[0]] == fitted.catalog.categories[0]
    best, p = predictor.predict(encoder.encode_query("espresso coffee"))[0]
    assert best == "Kitchen > Coffee" and 0 < p <= 1
    probs = predictor.probabilities(encoder.encode_query("wireless headphones"))
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert predictor.labels[int(probs.argmax())] == "Audio > Headphones"


def test_catalog_without_categories_gives_no_predictor():
    predictor, ids = CategoryPredictor.from_catalog(["", ""], np.eye(2, dtype=np.float32))
    assert predictor is None and ids.tolist() == [-1, -1]


def test_from_names_and_examples(encoder):
    predictor = CategoryPredictor.from_names(["Beds", "Area Rugs", "Beds", ""], encoder)
    assert predictor.labels == ["Beds", "Area Rugs"]
    assert predictor.predict(encoder.encode_query("king beds"))[0][0] == "Beds"
    # "carpet" shares no word with either name; one labelled example teaches it
    examples = encoder.encode(["carpet"])
    taught = predictor.with_examples(examples, ["Area Rugs"], weight=0.9)
    assert taught.predict(encoder.encode_query("carpet"))[0][0] == "Area Rugs"
    assert predictor.predict(encoder.encode_query("carpet"), top=2)[0][1] < 1.0


def test_bad_inputs_are_rejected(encoder):
    with pytest.raises(ValueError, match="one vector per label"):
        CategoryPredictor(["a", "b"], np.zeros((3, 4)))
    with pytest.raises(ValueError, match="no category labels"):
        CategoryPredictor.from_names(["", ""], encoder)


def test_paths_read_leaf_first():
    assert _readable("Phones > Smartphones") == "Smartphones (Phones)"
    assert _readable("Beds") == "Beds"
