"""A platform's stored external knowledge: appended, deduplicated, validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoplm.graph.knowledge import load_knowledge, save_knowledge


def test_save_appends_and_drops_duplicates(tmp_path: Path) -> None:
    first = save_knowledge(tmp_path, [("a", "r", "b"), ("a", "r", "b")], {"i1": "a"})
    assert first == {"triples_added": 1, "triples": 1, "links": 1}
    second = save_knowledge(tmp_path, [("a", "r", "b"), ("b", "s", "c")], {"i1": "x", "i2": "b"})
    assert second == {"triples_added": 1, "triples": 2, "links": 2}
    triples, links = load_knowledge(tmp_path)
    assert triples == [("a", "r", "b"), ("b", "s", "c")]
    assert links == {"i1": "x", "i2": "b"}


def test_nothing_stored_reads_as_empty(tmp_path: Path) -> None:
    assert load_knowledge(tmp_path / "none") == ([], {})


def test_bad_input_is_named_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="triple 1"):
        save_knowledge(tmp_path, [("a", "r", "b"), ("a", " ", "b")])
    with pytest.raises(ValueError, match="empty side"):
        save_knowledge(tmp_path, [], {"i1": ""})
    assert load_knowledge(tmp_path) == ([], {})
