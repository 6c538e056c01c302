from shoplm.search.query import QueryAnalyzer, idf, learn_expansions

VOCAB = {
    "toilet": 40,
    "seat": 30,
    "shower": 25,
    "head": 20,
    "deckover": 3,
    "deck": 10,
    "lawnmower": 1,
    "lawn": 30,
    "mower": 25,
    "blade": 12,
    "2x4": 5,
    "2x6": 5,
    "toile": 1,  # a rare word one edit from "toilet": never a correction target
}


def test_misspelled_word_is_corrected_to_the_common_catalog_word():
    analyzed = QueryAnalyzer(VOCAB).analyze("toliet seat")
    assert analyzed.corrections == {"toliet": "toilet"}
    assert analyzed.search_tokens == ("toilet", "seat")
    assert analyzed.rewritten == "toilet seat"
    assert analyzed.changed


def test_unknown_compound_is_split_into_catalog_words():
    analyzed = QueryAnalyzer(VOCAB).analyze("showerhead")
    assert analyzed.search_tokens == ("shower", "head")
    assert analyzed.corrections == {"showerhead": "shower head"}


def test_adjacent_words_add_their_joined_catalog_word():
    analyzed = QueryAnalyzer(VOCAB).analyze("deck over")
    assert analyzed.search_tokens == ("deck", "over")
    assert analyzed.expansions == {"deckover": 1.0}


def test_rare_compound_also_searches_its_common_parts():
    analyzed = QueryAnalyzer(VOCAB).analyze("lawnmower blades")
    assert analyzed.search_tokens == ("lawnmower", "blade")
    assert set(analyzed.expansions) == {"lawn", "mower"}


def test_numbers_short_words_and_known_words_are_left_alone():
    analyzer = QueryAnalyzer(VOCAB)
    assert analyzer.analyze("2x5 seat").search_tokens == ("2x5", "2", "5", "seat")
    assert analyzer.analyze("xyz").corrections == {}
    unchanged = analyzer.analyze("toilet")
    assert unchanged.corrections == {} and not unchanged.changed


def test_no_correction_when_nothing_is_close():
    assert QueryAnalyzer(VOCAB).analyze("zzzzzzzz").corrections == {}


def test_learned_expansions_are_added_when_the_word_is_known():
    analyzer = QueryAnalyzer(VOCAB, expansions={"seat": [("toilet", 0.6), ("unknown", 0.9)]})
    analyzed = analyzer.analyze("seat")
    assert analyzed.expansions == {"toilet": 0.6}


def test_learn_expansions_keeps_words_chosen_far_above_their_base_rate():
    pairs = [("stove", ["whirlpool gas range oven"]) for _ in range(4)]
    pairs += [("stove", ["pellet stove"])]
    vocabulary = {"whirlpool": 5, "gas": 500, "range": 10, "oven": 8, "pellet": 3, "stove": 6}
    learned = learn_expansions(pairs, vocabulary, n_items=1000, min_support=3, top=5)
    # 4 of the 5 choices hold each word; "gas" is in half the catalog (lift 1.6 < 5);
    # "pellet" lacks support; the query's own word is never its expansion
    assert learned == {"stove": [("oven", 0.8), ("range", 0.8), ("whirlpool", 0.8)]}
    assert learn_expansions(pairs, vocabulary, n_items=1000, min_support=3, top=1) == {
        "stove": [("oven", 0.8)]
    }


def test_idf_is_zero_for_unknown_and_falls_with_frequency():
    assert idf(0, 100) == 0.0
    assert idf(1, 100) > idf(50, 100) > 0
