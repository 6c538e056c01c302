"""Leave-one-out and temporal splits on tiny hand-made histories."""

import pytest

from shoplm.evaluation.splits import LeaveOneOut, TemporalSplit, leave_one_out, temporal_split


def test_leave_one_out_holds_out_last_two_items():
    seqs = {"long": ["a", "b", "c", "d", "e"], "exact": ["x", "y", "z"], "short": ["p", "q"]}
    split = leave_one_out(seqs)
    assert isinstance(split, LeaveOneOut)
    assert split.train_for_valid["long"] == ["a", "b", "c"]
    assert split.valid_targets["long"] == "d"
    assert split.train_for_test["long"] == ["a", "b", "c", "d"]
    assert split.test_targets["long"] == "e"
    # exactly min_length: one training item for validation
    assert split.train_for_valid["exact"] == ["x"]
    assert split.valid_targets["exact"] == "y"
    assert split.train_for_test["exact"] == ["x", "y"]
    assert split.test_targets["exact"] == "z"


def test_leave_one_out_short_users_only_train():
    seqs = {"short": ["p", "q"], "empty": [], "ok": ["a", "b", "c"]}
    split = leave_one_out(seqs)
    assert split.train_for_valid["short"] == ["p", "q"]
    assert split.train_for_test["short"] == ["p", "q"]
    assert split.train_for_test["empty"] == []
    assert set(split.valid_targets) == {"ok"}
    assert set(split.test_targets) == {"ok"}


def test_leave_one_out_min_length_and_input_untouched():
    seqs = {"u": ["a", "b", "c", "d"]}
    split = leave_one_out(seqs, min_length=5)
    assert split.test_targets == {}
    assert split.train_for_test["u"] == ["a", "b", "c", "d"]
    split.train_for_test["u"].append("z")
    assert seqs["u"] == ["a", "b", "c", "d"]
    assert split.train_for_valid["u"] == ["a", "b", "c", "d"]  # separate lists
    with pytest.raises(ValueError, match="min_length"):
        leave_one_out(seqs, min_length=2)
    with pytest.raises(ValueError, match="user 'v'"):
        leave_one_out({"v": "abc"})


def test_temporal_split_hand_cutoff():
    # Ten events at times 0..9.  The 0.8 quantile (linear) sits at position 0.8 * 9 = 7.2
    # between 7 and 8, so the cutoff is 7.2: times 0..7 train, 8 and 9 test.
    seqs = {
        "u1": ["a", "b", "c", "a"],  # "a" again at 8: already known -> no target
        "u2": ["d", "e", "f"],  # unsorted times; f at 9 is new -> target
        "u3": ["g", "h"],
        "u4": ["i"],
    }
    times = {"u1": [0, 2, 4, 8], "u2": [5, 1, 9], "u3": [3, 6], "u4": [7]}
    split = temporal_split(seqs, times, test_fraction=0.2)
    assert isinstance(split, TemporalSplit)
    assert split.cutoff == pytest.approx(7.2)
    assert split.quantile == pytest.approx(0.8)
    assert split.train_sequences == {
        "u1": ["a", "b", "c"],
        "u2": ["e", "d"],  # sorted by time
        "u3": ["g", "h"],
        "u4": ["i"],
    }
    assert split.train_timestamps["u2"] == [1.0, 5.0]
    assert split.test_targets == {"u2": {"f"}}


def test_temporal_split_cold_users_get_no_target():
    # times 0, 1, 10: position 0.8 * 2 = 1.6 -> cutoff 1 + 0.6 * 9 = 6.4
    seqs = {"old": ["a", "b"], "cold": ["c"]}
    times = {"old": [0, 1], "cold": [10]}
    split = temporal_split(seqs, times)
    assert split.cutoff == pytest.approx(6.4)
    assert set(split.train_sequences) == {"old"}
    assert split.test_targets == {}


def test_temporal_split_event_at_cutoff_is_test():
    # times 0..4, test_fraction 0.25: position 0.75 * 4 = 3 -> cutoff exactly 3
    seqs = {"u": ["a", "b", "c", "d", "e"]}
    times = {"u": [0, 1, 2, 3, 4]}
    split = temporal_split(seqs, times, test_fraction=0.25)
    assert split.cutoff == 3.0
    assert split.train_sequences["u"] == ["a", "b", "c"]
    assert split.test_targets["u"] == {"d", "e"}


@pytest.mark.parametrize(
    ("seqs", "times", "kwargs", "message"),
    [
        ({"u": ["a"]}, {}, {}, "user 'u' has items but no timestamps"),
        ({}, {"u": [1]}, {}, "user 'u' has timestamps but no items"),
        ({"u": ["a", "b"]}, {"u": [1]}, {}, "user 'u': 2 items but 1 timestamps"),
        ({"u": ["a"]}, {"u": [float("nan")]}, {}, "user 'u': timestamp nan"),
        ({"u": ["a"]}, {"u": ["soon"]}, {}, "user 'u': timestamps must be numbers"),
        ({"u": ["a", "b"]}, {"u": [5, 5]}, {}, "no event falls before"),
        ({"u": []}, {"u": []}, {}, "no events"),
        ({"u": ["a", "b"]}, {"u": [1, 2]}, {"test_fraction": 1.0}, "test_fraction"),
        ({"u": ["a", "b"]}, {"u": [1, 2]}, {"test_fraction": 0.0}, "test_fraction"),
    ],
)
def test_temporal_split_rejects_bad_input(seqs, times, kwargs, message):
    with pytest.raises(ValueError, match=message):
        temporal_split(seqs, times, **kwargs)
