import numpy as np
import pytest

from shoplm.index.lexical import LexicalIndex

DOCS = [
    {"title": "Acme smartphone 128GB black", "brand": "Acme", "category": "Phones"},
    {"title": "Acme silicone phone case", "brand": "Acme", "category": "Phones > Accessories"},
    {
        "title": "Sonic wireless headphones",
        "brand": "Sonic",
        "category": "Audio",
        "description": "Noise cancelling over-ear headphones with a long battery life",
    },
    {
        "title": "Brewmaster espresso coffee machine",
        "brand": "Brewmaster",
        "category": "Kitchen > Coffee",
        "attributes": "colour silver",
    },
    {"title": "Roastery whole bean coffee 1kg", "brand": "Roastery", "category": "Coffee"},
    {"title": "苹果手机壳 透明", "brand": "", "category": "手机配件"},
]


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex.build(DOCS)


def test_matching_document_ranks_first(index):
    rows, scores = index.search("espresso machine", 10)
    assert rows[0] == 3
    assert rows.dtype == np.int64 and scores.dtype == np.float32
    assert (scores > 0).all() and (np.diff(scores) <= 0).all()
    # plural in the query meets the singular in the title, and back
    assert index.search("phones case", 10)[0][0] == 1
    assert 2 in index.search("headphone", 10)[0]
    assert index.search("手机壳", 10)[0].tolist() == [5]


def test_only_matching_rows_are_returned(index):
    rows, _ = index.search("coffee", 10)
    assert sorted(rows.tolist()) == [3, 4]
    rows, _ = index.search("coffee", 1)
    assert len(rows) == 1


def test_empty_or_unknown_query_gives_empty_arrays(index):
    for query in ["", "   ", "zebra unicorn", "the and of"]:
        rows, scores = index.search(query, 5)
        assert rows.shape == (0,) and scores.shape == (0,)
        assert rows.dtype == np.int64 and scores.dtype == np.float32


def test_ties_go_to_the_lower_row():
    docs = [{"title": "red mug"}, {"title": "blue mug"}, {"title": "red mug"}, {"title": "mug"}]
    index = LexicalIndex.build(docs)
    rows, scores = index.search("red", 10)
    assert rows.tolist() == [0, 2] and scores[0] == scores[1]
    assert index.search("red", 1)[0].tolist() == [0]
    assert index.search("mug", 2)[0].tolist() == [3, 0]  # shortest doc first, then tie order


def test_field_weights_change_the_ranking():
    docs = [
        {"title": "kettle", "description": "steel"},
        {"title": "steel kettle", "description": ""},
        {"title": "pan", "brand": "Steel"},
    ]
    default = LexicalIndex.build(docs)
    assert default.search("steel", 3)[0][0] == 1  # title words count twice
    brand_heavy = LexicalIndex.build(docs, field_weights={"brand": 5})
    assert brand_heavy.search("steel", 3)[0][0] == 2
    no_description = LexicalIndex.build(docs, field_weights={"description": 0})
    assert 0 not in no_description.search("steel", 3)[0]
    with pytest.raises(ValueError, match="'title'"):
        LexicalIndex.build(docs, field_weights={"title": 1.5})


def test_allowed_mask_and_search_many(index):
    allowed = np.ones(len(DOCS), dtype=bool)
    allowed[3] = False
    assert index.search("coffee", 10, allowed=allowed)[0].tolist() == [4]
    many = index.search_many(["coffee", "zebra", "acme"], 10)
    assert [len(rows) for rows, _ in many] == [2, 0, 2]


def test_vocabulary_counts_documents(index):
    vocabulary = index.vocabulary()
    assert vocabulary["acme"] == 2  # in two documents, whatever the repeats
    assert vocabulary["coffee"] == 2
    assert vocabulary["phone"] == 2  # "phone" and "phones"
    assert "the" not in vocabulary and "" not in vocabulary


def test_save_load_gives_the_same_results(tmp_path, index):
    index.save(tmp_path / "lex")
    loaded = LexicalIndex.load(tmp_path / "lex")
    assert loaded.size == index.size == len(DOCS)
    assert loaded.vocabulary() == index.vocabulary()
    for query in ["coffee machine", "acme phone", "手机壳", "nothing"]:
        for a, b in zip(index.search(query, 5), loaded.search(query, 5), strict=True):
            np.testing.assert_array_equal(a, b)


def test_degenerate_corpora_and_bad_fields():
    assert LexicalIndex.build([]).search("mug", 3)[0].shape == (0,)
    empty_docs = LexicalIndex.build([{"title": ""}, {"title": "--"}])
    assert empty_docs.size == 2 and empty_docs.search("mug", 3)[0].shape == (0,)
    with pytest.raises(TypeError, match="document 1 field 'title'"):
        LexicalIndex.build([{"title": "ok"}, {"title": 3}])
