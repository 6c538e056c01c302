"""A folder written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoplm.folders import replaced_whole


def test_a_complete_write_replaces_the_folder_and_leaves_nothing_beside(tmp_path: Path) -> None:
    target = tmp_path / "models" / "base"
    for text in ("first", "second"):
        with replaced_whole(target) as fresh:
            fresh.mkdir()
            (fresh / "weights").write_text(text)
    assert (target / "weights").read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["base"]


def test_a_failed_write_keeps_the_folder_that_was_there(tmp_path: Path) -> None:
    target = tmp_path / "base"
    target.mkdir()
    (target / "weights").write_text("kept")
    with pytest.raises(RuntimeError, match="disk full"), replaced_whole(target) as fresh:
        fresh.mkdir()
        (fresh / "weights").write_text("half")
        raise RuntimeError("disk full")
    assert (target / "weights").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base"]
