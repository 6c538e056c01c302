"""The HTTP API end to end over a fitted tiny shop (in process, with the real encoder)."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from shoplm.realtime import RealtimeSettings
from shoplm.server import ServerSettings, create_app
from shoplm.server.api_models import MAX_BATCH, MAX_K, MAX_QUERY_CHARS


@pytest.fixture(scope="module")
def client(served_home):
    settings = ServerSettings(
        compute_threads=None, realtime=RealtimeSettings(explore_slots=0, seed=7)
    )
    with TestClient(create_app(served_home, settings)) as test_client:
        yield test_client


def write(keys: dict[str, str]) -> dict[str, str]:
    return {"X-API-Key": keys["write"]}


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [hit["item_id"] for hit in response.json()["hits"]]


def assert_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"]
    assert "Traceback" not in response.text
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


# -- reads --------------------------------------------------------------------------------
def test_health_lists_the_fitted_platform(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["platforms"]["default"]["fitted"] is True
    assert body["platforms"]["default"]["items"] == 10


def test_request_threads_bound_the_worker_pool(served_home):
    import anyio.to_thread

    settings = ServerSettings(compute_threads=None, request_threads=3)
    with TestClient(create_app(served_home, settings)) as test_client:
        assert test_client.get("/health").status_code == 200
        limiter = test_client.portal.call(anyio.to_thread.current_default_thread_limiter)
        assert limiter.total_tokens == 3


def test_search_returns_hits_that_say_why(client):
    response = client.get("/v1/search", params={"q": "coffee grinder", "k": 3})
    found = ids(response)
    assert found[0] == "c2"
    hit = response.json()["hits"][0]
    assert "'grinder'" in hit["reason"] and hit["item"]["title"].startswith("Brewmaster")
    assert response.json()["took_ms"] >= 0


def test_search_filters_by_price(client):
    response = client.get("/v1/search", params={"q": "coffee", "max_price": 30})
    assert ids(response)[0] == "c3"
    assert all(hit["item"]["price"] <= 30 for hit in response.json()["hits"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "coffee", "k": 0}, "query.k"),
        ({"q": "coffee", "k": MAX_K + 1}, "query.k"),
        ({"q": "x" * (MAX_QUERY_CHARS + 1)}, "query.q"),
        ({"k": 3}, "query.q"),
        ({"q": "coffee", "method": "magic"}, "query.method"),
        ({"q": "coffee", "min_price": -1}, "query.min_price"),
        ({"q": "coffee", "min_price": 50, "max_price": 10}, "query"),
    ],
)
def test_bad_search_input_is_a_422_naming_the_field(client, params, field):
    body = assert_problem(client.get("/v1/search", params=params), 422, field)
    assert field in body["detail"]


def test_recommend_and_limits(client):
    found = ids(client.get("/v1/recommend", params={"user_id": "u4", "k": 3}))
    assert len(found) == 3 and not {"c1", "c2", "c3"} & set(found)  # seen items left out
    assert_problem(client.get("/v1/recommend", params={"user_id": "u4", "k": 500}), 422, "query.k")
    assert_problem(client.get("/v1/recommend", params={"k": 3}), 422, "query.user_id")
    assert_problem(
        client.get("/v1/recommend", params={"user_id": "u4", "platform": "nope"}), 404, "platform"
    )


def test_similar_and_item(client):
    assert set(ids(client.get("/v1/items/c1/similar", params={"k": 2}))) == {"c2", "c3"}
    assert client.get("/v1/items/h1").json()["brand"] == "Sonic"
    assert_problem(client.get("/v1/items/zzz/similar"), 404)
    assert_problem(client.get("/v1/items/zzz"), 404)
    assert_problem(client.get("/v1/items/c1/similar", params={"model": "nope"}), 422)


def test_user_profile_and_users(client):
    profile = client.get("/v1/users/u4").json()
    assert profile["events"] == 3 and profile["known_to_fit"] is True
    assert "Kitchen > Coffee" in profile["top_categories"][0].values()  # the engine's profile
    assert [r["item_id"] for r in profile["recent"]] == ["c3", "c2", "c1"]
    assert "u4" in client.get("/v1/users").json()["users"]
    unknown = client.get("/v1/users/nobody").json()
    assert unknown["events"] == 0 and unknown["known_to_fit"] is False


def test_explain_for_a_user_and_a_query(client):
    body = client.get("/v1/explain", params={"item_id": "c2", "user_id": "u5", "q": "grinder"})
    assert body.status_code == 200, body.text
    data = body.json()
    assert data["query"]["matched_words"] == ["grinder"] and data["query"]["bm25"] > 0
    assert data["user"]["nearest_history"][0]["item_id"] in {"c2", "c3"}
    assert "model_reason" in data["user"] and data["user"]["in_history"] is True
    assert data["user"]["graph"]["history_item_id"] == "c3"  # a path in the item graph
    assert_problem(client.get("/v1/explain", params={"item_id": "zzz"}), 404)


def test_openapi_and_console_are_served(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/search", "/v1/recommend", "/v1/events", "/v1/events/batch", "/v1/items"):
        assert path in paths
    page = client.get("/console/")
    assert page.status_code == 200 and "shoplm" in page.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
    assert_problem(client.get("/no/such/page"), 404)


# -- writes and keys ------------------------------------------------------------------------
def test_writes_need_a_write_key(client, keys):
    event = {"user_id": "k1", "item_id": "h1", "type": "click"}
    assert_problem(client.post("/v1/events", json=event), 401)
    assert_problem(client.post("/v1/events", json=event, headers={"X-API-Key": "slm_x_y"}), 401)
    assert_problem(client.post("/v1/events", json=event, headers={"X-API-Key": keys["read"]}), 403)
    ok = client.post("/v1/events", json=event, headers={"Authorization": f"Bearer {keys['write']}"})
    assert ok.json() == {"accepted": 1, "added": 1, "duplicates": 0}
    retrain = client.post("/v1/admin/retrain", headers=write(keys))
    assert_problem(retrain, 403)


def test_bad_events_name_the_field(client, keys):
    missing_item = {"user_id": "k2", "type": "click"}
    body = assert_problem(client.post("/v1/events", json=missing_item, headers=write(keys)), 422)
    assert "item_id is required" in body["detail"]
    bad_type = {"user_id": "k2", "item_id": "h1", "type": "teleport"}
    assert_problem(client.post("/v1/events", json=bad_type, headers=write(keys)), 422, "body.type")
    extra = {"user_id": "k2", "item_id": "h1", "colour": "red"}
    assert_problem(client.post("/v1/events", json=extra, headers=write(keys)), 422, "body.colour")
    too_many = {"events": [{"user_id": "k2", "item_id": "h1"}] * (MAX_BATCH + 1)}
    body = assert_problem(
        client.post("/v1/events/batch", json=too_many, headers=write(keys)), 422, "body.events"
    )
    assert str(MAX_BATCH) in body["detail"]
    nested = {"events": [{"user_id": "k2", "item_id": "h1"}, {"user_id": "", "item_id": "h1"}]}
    assert_problem(
        client.post("/v1/events/batch", json=nested, headers=write(keys)),
        422,
        "body.events.1.user_id",
    )
    broken = client.post(
        "/v1/events",
        content=b"{not json",
        headers={**write(keys), "Content-Type": "application/json"},
    )
    assert_problem(broken, 422)


def test_event_batch_is_stored_once(client, keys):
    batch = {
        "events": [
            {"user_id": "b1", "item_id": "h1", "type": "view", "event_id": "e1", "timestamp": 5},
            {"user_id": "b1", "item_id": "h2", "type": "click", "event_id": "e2", "timestamp": 6},
        ]
    }
    first = client.post("/v1/events/batch", json=batch, headers=write(keys)).json()
    again = client.post("/v1/events/batch", json=batch, headers=write(keys)).json()
    assert first == {"accepted": 2, "added": 2, "duplicates": 0}
    assert again == {"accepted": 2, "added": 0, "duplicates": 2}


# -- real time --------------------------------------------------------------------------------
def test_an_event_changes_the_next_recommendation_within_a_second(client, keys):
    before = ids(client.get("/v1/recommend", params={"user_id": "u7", "k": 5}))
    assert before[0] != "c2"
    started = time.perf_counter()
    event = {"user_id": "u7", "item_id": "c2", "type": "click", "value": 40}
    assert client.post("/v1/events", json=event, headers=write(keys)).status_code == 200
    after = ids(client.get("/v1/recommend", params={"user_id": "u7", "k": 5}))
    elapsed = time.perf_counter() - started
    assert after != before and elapsed < 1.0
    assert "c2" not in after  # just clicked: not recommended back
    hits = client.get("/v1/recommend", params={"user_id": "u7", "k": 5}).json()["hits"]
    assert hits[0]["item"]["category"] == "Kitchen > Coffee"  # the session leads now
    assert "session" in hits[0]["sources"]
    assert client.get("/v1/users/u7").json()["session"]["items"][0]["item_id"] == "c2"


def test_a_new_item_is_searchable_and_recommendable_within_a_second(client, keys):
    item = {
        "item_id": "t1",
        "title": "Kettlebrew gooseneck tea kettle for pour-over coffee",
        "category": "Kitchen > Coffee",
        "brand": "Kettlebrew",
        "price": 45.0,
    }
    started = time.perf_counter()
    response = client.post("/v1/items", json={"items": [item]}, headers=write(keys))
    assert response.json()["inserted"] == 1
    found_search = found_recommend = None
    while time.perf_counter() - started < 1.0:
        if found_search is None and "t1" in ids(
            client.get("/v1/search", params={"q": "gooseneck kettle", "k": 3})
        ):
            found_search = time.perf_counter() - started
        if found_recommend is None and "t1" in ids(
            client.get("/v1/recommend", params={"user_id": "u5", "k": 3})
        ):
            found_recommend = time.perf_counter() - started
        if found_search is not None and found_recommend is not None:
            break
        time.sleep(0.01)
    assert found_search is not None and found_search < 1.0
    assert found_recommend is not None and found_recommend < 1.0
    assert "t1" in ids(client.get("/v1/items/c1/similar", params={"k": 3}))
    assert ids(client.get("/v1/search", params={"q": "kettlebrew", "method": "bm25"})) == ["t1"]
    assert client.get("/health").json()["platforms"]["default"]["overlay"]["items"] >= 1


def test_a_changed_item_is_found_by_its_new_text(client, keys):
    changed = {
        "item_id": "h3",
        "title": "Bassline vinyl turntable",
        "category": "Audio > Turntables",
    }
    response = client.post("/v1/items?wait=true", json={"items": [changed]}, headers=write(keys))
    assert response.json() == {"inserted": 0, "updated": 1, "unchanged": 0, "live": True}
    assert ids(client.get("/v1/search", params={"q": "turntable", "k": 1})) == ["h3"]
    assert "h3" not in ids(client.get("/v1/search", params={"q": "studio", "method": "bm25"}))
    hits = client.get("/v1/search", params={"q": "turntable", "k": 10}).json()["hits"]
    assert [h["item_id"] for h in hits].count("h3") == 1


def test_a_deleted_item_leaves_search_at_once(client, keys):
    assert "p4" in ids(client.get("/v1/search", params={"q": "screen protector", "k": 3}))
    deleted = client.delete("/v1/items/p4", headers=write(keys)).json()
    assert deleted == {"item_id": "p4", "platform": "default", "deleted": True}
    assert "p4" not in ids(client.get("/v1/search", params={"q": "screen protector", "k": 3}))
    assert "p4" not in ids(client.get("/v1/recommend", params={"user_id": "u2", "k": 9}))
    assert client.delete("/v1/items/p4", headers=write(keys)).json()["deleted"] is False
    assert_problem(client.delete("/v1/items/p4"), 401)


def test_retrain_swaps_in_the_background_without_failed_requests(client, keys):
    extra = {"item_id": "t2", "title": "Oolong loose leaf tea tin", "category": "Kitchen > Tea"}
    client.post("/v1/items?wait=true", json={"items": [extra]}, headers=write(keys))
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            statuses.append(client.get("/v1/recommend", params={"user_id": "u1"}).status_code)
            statuses.append(client.get("/v1/search", params={"q": "tea"}).status_code)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        admin = {"X-API-Key": keys["admin"]}
        body = client.post("/v1/admin/retrain", params={"wait": "true"}, headers=admin).json()
    finally:
        stop.set()
        thread.join()
    assert body["state"] == "done", body
    assert body["report"]["items"] == 11  # 10 - p4 + t1 + t2
    assert statuses and set(statuses) == {200}
    assert client.get("/v1/admin/retrain", headers=admin).json()["state"] == "done"
    health = client.get("/health").json()["platforms"]["default"]
    assert health["overlay"] == {"items": 0, "deleted": 0}  # all folded into the new fit
    assert "t2" in ids(client.get("/v1/search", params={"q": "oolong", "k": 1}))
    assert "p4" not in ids(client.get("/v1/search", params={"q": "screen protector"}))


def test_metrics_in_prometheus_format(client):
    client.get("/v1/search", params={"q": "phone"})
    text = client.get("/metrics").text
    assert 'shoplm_http_requests_total{method="GET",route="/v1/search",status="200"}' in text
    assert (
        'shoplm_http_request_duration_seconds_bucket{method="GET",route="/v1/search",le="+Inf"}'
        in text
    )
    assert 'route="/v1/items/{item_id}/similar"' in text  # templates, not raw ids
    assert 'shoplm_items{platform="default"}' in text
    assert "# TYPE shoplm_http_request_duration_seconds histogram" in text
    assert "shoplm_events_stored_total " in text and "shoplm_items_upserted_total " in text
