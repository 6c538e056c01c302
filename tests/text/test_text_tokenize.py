from shoplm.text.tokenize import STOPWORDS, singular, tokenize


def test_lowercase_and_unicode_normalisation():
    assert tokenize("ＩＰＨＯＮＥ Case") == ["iphone", "case"]
    assert tokenize("Café-Mug") == ["café", "mug"]


def test_plurals_fold_to_singular():
    assert tokenize("phones batteries boxes watches glasses shoes") == [
        "phone",
        "battery",
        "box",
        "watch",
        "glass",
        "shoe",
    ]
    assert tokenize("phone") == tokenize("Phones")
    # words that only look plural, short words and units stay as written
    assert singular("series") == "series"
    assert singular("lens") == "lens" and singular("lenses") == "lens"
    assert singular("lbs") == "lbs"
    assert singular("glass") == "glass"


def test_stopwords_dropped_but_product_words_kept():
    tokens = tokenize("A case for the phone with a strap and cable of steel, in black, to go")
    assert not STOPWORDS & set(tokens)
    assert tokens == ["case", "phone", "strap", "cable", "steel", "black", "go"]


def test_numbers_and_sizes_stay_whole():
    assert tokenize("3/4 in. x 8 ft.") == ["3/4", "x", "8", "ft"]
    assert tokenize("1.5 liter 2,000 pcs") == ["1.5", "liter", "2000", "pcs"]
    # mixed letters and digits are kept whole and followed by their parts
    assert tokenize("2x4") == ["2x4", "2", "4"]
    assert tokenize("5mm") == ["5mm", "5", "mm"]
    assert set(tokenize("iPhone 15")) <= set(tokenize("iPhone15"))


def test_chinese_runs_are_segmented():
    tokens = tokenize("苹果手机壳")
    assert len(tokens) >= 2
    assert "".join(tokens) == "苹果手机壳"
    assert "手机" in tokens
    mixed = tokenize("iPhone15保护套")
    assert mixed[0] == "iphone15" and "保护套" in "".join(mixed)


def test_empty_and_punctuation_only():
    assert tokenize("") == []
    assert tokenize(" -- !! ") == []
