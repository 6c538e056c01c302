"""A folder or a file written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoplm.folders import replaced_file, replaced_whole, write_text_whole


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


def test_a_file_is_replaced_whole_with_its_mode_and_nothing_left_beside(tmp_path: Path) -> None:
    target = tmp_path / "home" / "keys.json"
    for text in ('{"keys": 1}', '{"keys": 2}'):
        assert write_text_whole(target, text, mode=0o600) == target
    assert target.read_text() == '{"keys": 2}'
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["keys.json"]


def test_a_failed_file_write_keeps_the_old_file_and_removes_the_partial_one(
    tmp_path: Path,
) -> None:
    target = tmp_path / "config.json"
    target.write_text("kept")
    with pytest.raises(RuntimeError, match="interrupted"), replaced_file(target) as fresh:
        fresh.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "kept"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
