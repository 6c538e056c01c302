"""Thompson sampling: shows and clicks move beliefs; beliefs survive a restart."""

from __future__ import annotations

import json

import pytest

from shoplm.realtime.bandit import ThompsonBandit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_clicked_items_win_more_draws():
    bandit = ThompsonBandit(seed=3, prior=(1, 10))
    for round_ in range(40):
        bandit.shown("shop", f"u{round_}", ["good", "bad"])
        assert bandit.observe("shop", f"u{round_}", "good", "click")
    wins = sum(bandit.choose("shop", ["good", "bad", "new"], 1)[0][0] == "good" for _ in range(200))
    assert wins > 150
    assert bandit.belief("shop", "good") == {
        "shows": 40,
        "rewards": 40,
        "mean": pytest.approx(41 / 51),
    }
    assert bandit.belief("shop", "bad")["mean"] < bandit.belief("shop", "new")["mean"]


def test_rewards_need_a_recent_show_to_the_same_user():
    clock = Clock()
    bandit = ThompsonBandit(reward_window_s=60, clock=clock)
    bandit.shown("shop", "u1", ["x"])
    assert not bandit.observe("shop", "u2", "x", "click")  # someone else
    assert not bandit.observe("shop", "u1", "x", "view")  # a view is no reward
    clock.now += 61
    assert not bandit.observe("shop", "u1", "x", "purchase")  # too late
    bandit.shown("shop", "u1", ["x"])
    assert bandit.observe("shop", "u1", "x", "add_to_cart")
    assert not bandit.observe("shop", "u1", "x", "click")  # one reward per show
    assert bandit.belief("shop", "x")["rewards"] == 1


def test_choose_is_bounded_and_seeded():
    first = ThompsonBandit(seed=1).choose("shop", ["a", "b", "c"], 2)
    again = ThompsonBandit(seed=1).choose("shop", ["a", "b", "c"], 2)
    assert first == again and len(first) == 2
    assert ThompsonBandit().choose("shop", [], 3) == []
    assert ThompsonBandit().choose("shop", ["a"], 0) == []
    with pytest.raises(ValueError, match="prior"):
        ThompsonBandit(prior=(0, 1))


def test_beliefs_are_saved_and_loaded(tmp_path):
    path = tmp_path / "realtime" / "bandit.json"
    bandit = ThompsonBandit(path)
    bandit.shown("shop", "u1", ["x", "y"])
    bandit.observe("shop", "u1", "x", "click")
    assert bandit.save() and not bandit.save()  # nothing new the second time
    loaded = ThompsonBandit(path)
    assert loaded.belief("shop", "x") == bandit.belief("shop", "x")
    assert json.loads(path.read_text())["arms"]["shop"]["y"] == [1, 0]
    path.write_text('{"arms": 3}')
    with pytest.raises(ValueError, match="bandit state"):
        ThompsonBandit(path)
