"""Text fields joined as sentences."""

from __future__ import annotations

from shoplm.text.sentences import join_sentences


def test_join_sentences_ends_each_part_once() -> None:
    assert join_sentences(["Love it", "Fits  well."]) == "Love it. Fits well."
    assert join_sentences(["Great!", "Buy it"]) == "Great! Buy it"
    assert join_sentences(["", "  only body "]) == "only body"
    assert join_sentences(["", " "]) == ""
