"""Fusing a live ranking into the model's list, and placing explored items."""

from __future__ import annotations

from shoplm.realtime.ranking import fuse, place_explored
from shoplm.schema import Hit, Item


def hit(item_id: str, reason: str = "model") -> Hit:
    item = Item(item_id=item_id, title=f"title {item_id}")
    return Hit(item_id=item_id, platform="default", score=1.0, reason=reason, item=item)


def test_fuse_lets_the_live_ranking_lead_and_says_so():
    hits = [hit("a"), hit("b"), hit("c")]
    live = [("x", 0.9), ("c", 0.8)]
    items = {"x": Item(item_id="x", title="live only")}
    fused = fuse(hits, live, items, "session", 1.0, lambda i: f"live {i}")
    assert [h.item_id for h in fused] == ["c", "a", "x", "b"]
    assert fused[0].reason == "live c" and fused[0].sources == {"session": 0.8}
    assert fused[2].reason == "live x" and fused[2].item.title == "live only"
    assert fused[1].reason == "model" and "session" not in fused[1].sources
    muted = fuse(hits, live, items, "session", 0.0, lambda i: "never")
    assert [h.item_id for h in muted][:3] == ["a", "b", "c"]
    dropped = fuse(hits, [("y", 1.0)], {}, "session", 1.0, str)
    assert "y" not in [h.item_id for h in dropped]  # no Item to show: left out


def test_place_explored_takes_the_last_places():
    hits = [hit(i) for i in "abcd"]
    items = {"n": Item(item_id="n", title="new"), "c": Item(item_id="c", title="old")}
    placed, ids = place_explored(hits, [("n", 0.3), ("c", 0.2)], items, {"n"}, k=4)
    assert [h.item_id for h in placed] == ["a", "b", "n", "c"] and ids == ["n", "c"]
    assert placed[2].reason.startswith("new in the shop")
    assert placed[3].reason.startswith("rarely seen") and placed[3].sources == {"explore": 0.2}
