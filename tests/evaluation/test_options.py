"""The comma-separated option parser every evaluation command uses."""

from __future__ import annotations

from shoplm.evaluation.options import comma_list


def test_comma_list_strips_names_and_drops_empty_ones() -> None:
    assert comma_list("lora, full,") == ["lora", "full"]
    assert comma_list(" transfer-100% ") == ["transfer-100%"]
    assert comma_list(",, ") == []
