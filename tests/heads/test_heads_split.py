"""The seeded split (stratified by class or kept whole by group) and the seeded row caps."""

from __future__ import annotations

from shoplm.heads.split import cap_rows, split_rows


def test_split_is_seeded_stratified_and_disjoint() -> None:
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    split = split_rows(100, 7, strata=labels)
    assert split == split_rows(100, 7, strata=labels)
    assert split != split_rows(100, 8, strata=labels)
    rows = split["train"] + split["valid"] + split["test"]
    assert sorted(rows) == list(range(100))
    assert [sum(labels[r] == c for r in split["train"]) for c in "abc"] == [35, 21, 14]
    assert [sum(labels[r] == c for r in split["test"]) for c in "abc"] == [10, 6, 4]


def test_grouped_split_keeps_each_group_in_one_part() -> None:
    groups = [f"q{i // 4}" for i in range(80)]
    split = split_rows(80, 1, groups=groups)
    where = {groups[r]: name for name, rows in split.items() for r in rows}
    for name, rows in split.items():
        assert all(where[groups[r]] == name for r in rows)
    assert len(split["train"]) == 4 * 14  # 70% of 20 groups


def test_cap_rows_balances_classes_as_far_as_they_go() -> None:
    labels = ["pos"] * 80 + ["neg"] * 15 + ["neu"] * 5
    rows = cap_rows(range(100), 45, 3, labels)
    counts = {c: sum(labels[r] == c for r in rows) for c in ("pos", "neg", "neu")}
    assert counts == {"pos": 25, "neg": 15, "neu": 5}  # small classes give all; pos fills up
    assert cap_rows(range(100), 45, 3, labels) == rows
    assert len(cap_rows(range(100), 10, 3)) == 10 and cap_rows([3, 1], None, 0) == [1, 3]
