"""The real-time layer over an engine: live items, restarts, retrains, exploration, trends."""

from __future__ import annotations

import time

import pytest

from shoplm.realtime import Realtime, RealtimeSettings, RetrainStatus
from shoplm.schema import Event, Item


@pytest.fixture
def live(shop):
    realtime = Realtime(shop, RealtimeSettings(explore_slots=0, seed=5))
    realtime.start()
    yield realtime
    realtime.stop()


def upsert(realtime: Realtime, *items: dict) -> None:
    parsed = [Item.model_validate(item) for item in items]
    realtime.engine.upsert_items(parsed)
    assert realtime.items_upserted("default", parsed, wait_s=10)


def search_ids(engine, query: str, k: int = 3, method: str = "hybrid") -> list[str]:
    return [hit.item_id for hit in engine.search(query, k=k, method=method)]


def test_upserted_items_are_live_and_a_fit_folds_them_in(live):
    engine = live.engine
    upsert(live, {"item_id": "n1", "title": "Gooseneck teapot kettle", "category": "Kitchen > Tea"})
    assert search_ids(engine, "gooseneck teapot")[0] == "n1"
    assert live.overlay_size("default") == {"items": 1, "deleted": 0}
    assert live.status()["platforms"]["default"]["items"] == 11
    report = live.retrain(wait=True)
    assert report.state == "done" and report.report["items"] == 11
    assert live.overlay_size("default") == {"items": 0, "deleted": 0}
    serving = live.slots["default"]
    assert "n1" in serving.item_index and not hasattr(serving, "live_base")  # a plain fit
    assert search_ids(engine, "gooseneck teapot")[0] == "n1"


def test_a_restart_serves_what_was_stored_after_the_fit(shop, open_hashed):
    home = shop.home
    shop.upsert_items([{"item_id": "n2", "title": "Cast iron teapot"}])
    shop.upsert_items([{"item_id": "h3", "title": "Bassline vinyl turntable"}])
    shop.store.delete_items("default", ["p4"])
    shop.close()
    engine = open_hashed(home)
    realtime = Realtime(engine, RealtimeSettings(explore_slots=0))
    realtime.start()
    try:
        assert search_ids(engine, "cast iron teapot", method="bm25") == ["n2"]
        assert search_ids(engine, "turntable", method="bm25") == ["h3"]
        assert "h3" not in search_ids(engine, "studio", method="bm25")
        assert "p4" not in search_ids(engine, "screen protector", k=10)
        assert realtime.overlay_size("default") == {"items": 2, "deleted": 1}
    finally:
        realtime.stop()
        engine.close()


def test_items_arriving_during_a_retrain_survive_the_swap(live):
    engine = live.engine
    live._retrains["default"] = RetrainStatus(state="running", started_at=time.time())
    upsert(live, {"item_id": "h3", "title": "Bassline vinyl turntable"})
    engine.fit()  # as if the running fit read the catalog before the change
    live._retrains["default"].state = "done"
    assert live.overlay_size("default")["items"] == 1
    assert search_ids(engine, "turntable", method="bm25") == ["h3"]


def test_a_fit_made_by_another_process_is_picked_up(live, open_hashed):
    before = live.slots["default"].fitted_at
    other = open_hashed(live.engine.home)
    other.upsert_items([{"item_id": "n3", "title": "Matcha whisk bamboo"}])
    other.fit()
    other.close()
    live._reload_changed_fits()
    assert live.slots["default"].fitted_at > before
    assert "n3" in live.slots["default"].item_index


def test_deleted_items_leave_and_come_back(live):
    engine = live.engine
    engine.store.delete_items("default", ["c3"])
    live.items_deleted("default", ["c3"])
    assert "c3" not in search_ids(engine, "roastery coffee bean", k=10)
    assert "c3" not in [h.item_id for h in live.recommend("u5", k=9)]
    upsert(live, {"item_id": "c3", "title": "Roastery whole bean coffee 1kg"})
    assert search_ids(engine, "roastery", method="bm25") == ["c3"]


def test_exploration_reserves_a_slot_and_learns_from_clicks(shop):
    realtime = Realtime(shop, RealtimeSettings(explore_slots=1, seed=1))
    realtime.start()
    try:
        upsert(realtime, {"item_id": "n4", "title": "Brand new espresso cups"})
        fitted = shop.fitted()
        assert realtime.arms(fitted)[0] == "n4"  # new items first
        hits = realtime.recommend("u1", k=4)
        explored = hits[-1]
        assert len(hits) == 4 and "explore" in explored.sources
        assert "showing it to learn" in explored.reason
        assert all("explore" not in hit.sources for hit in hits[:-1])
        assert realtime.bandit.belief("default", explored.item_id)["shows"] == 1
        click = Event(user_id="u1", item_id=explored.item_id, type="click", timestamp=time.time())
        realtime.events_added([click])
        assert realtime.bandit.belief("default", explored.item_id)["rewards"] == 1
        assert len(realtime.recommend("u1", k=1)) == 1  # no slot taken from a one-item list
        assert "explore" not in realtime.recommend("u1", k=1)[0].sources
    finally:
        realtime.stop()
    assert (shop.home / "realtime" / "bandit.json").exists()  # saved on stop


def test_live_popularity_leads_for_a_new_shopper(live):
    now = time.time()
    burst = [
        Event(user_id=f"fan{i}", item_id="h3", type="purchase", timestamp=now) for i in range(5)
    ]
    live.engine.add_events(burst)
    live.events_added(burst)
    hits = live.recommend("newcomer", k=3)
    assert hits[0].item_id == "h3" and hits[0].reason == "popular right now"
    assert "fan4" in live.recent_users("default")


def test_session_intent_reorders_a_known_shopper(live):
    before = [h.item_id for h in live.recommend("u1", k=3)]
    event = Event(user_id="u1", item_id="h1", type="click", value=60, timestamp=time.time())
    live.engine.add_events([event])
    after = live.recommend("u1", k=3)
    assert after[0].item_id.startswith("h") and "session" in after[0].sources
    assert [h.item_id for h in after] != before and "h1" not in [h.item_id for h in after]


def test_items_stored_since_the_fit_come_after_the_hybrids_picks(shop):
    shop.fit(models=["popularity", "itemknn", "content", "hybrid"])
    realtime = Realtime(shop, RealtimeSettings(explore_slots=0, seed=5))
    realtime.start()
    try:
        upsert(
            realtime,
            {"item_id": "n5", "title": "Garden hose reel"},
            {"item_id": "n6", "title": "Bird feeder cedar"},
        )
        hits = realtime.recommend("u1", k=9, model="hybrid")  # every unseen item, new ones too
        ids = [hit.item_id for hit in hits]
        assert len(ids) == 9 and set(ids[-2:]) == {"n5", "n6"}  # no evidence: last
    finally:
        realtime.stop()
