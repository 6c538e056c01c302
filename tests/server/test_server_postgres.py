"""The HTTP API end to end on the PostgreSQL backend: the store and the embeddings in a database.

The home keeps only config.json, keys and fitted models; items, events and text embeddings are
in PostgreSQL (a fresh schema), where a second worker on the same database sees them at once.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from shoplm.engine import Engine
from shoplm.realtime import RealtimeSettings
from shoplm.server import ServerSettings, create_app
from shoplm.server.auth import KeyStore
from shoplm.store.postgres import PostgresStore
from shoplm.store.vectors_pg import PostgresEmbeddingCache


@pytest.fixture(scope="module")
def pg_home(tmp_path_factory, postgres_schema) -> tuple[Path, str]:
    url = postgres_schema()
    home = tmp_path_factory.mktemp("pg-served") / "home"
    Engine.open(home, store={"url": url}).close()  # saves the store URL in config.json
    return home, url


@pytest.fixture(scope="module")
def pg_keys(pg_home) -> dict[str, str]:
    store = KeyStore(pg_home[0])
    return {scope: store.create(f"test-{scope}", scope)[0] for scope in ("write", "admin")}


@pytest.fixture(scope="module")
def client(pg_home):
    settings = ServerSettings(
        compute_threads=None, realtime=RealtimeSettings(explore_slots=0, seed=7)
    )
    with TestClient(create_app(pg_home[0], settings)) as test_client:
        yield test_client


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [hit["item_id"] for hit in response.json()["hits"]]


def test_ingest_over_http_lands_in_postgres(client, pg_home, pg_keys, tiny_items, tiny_events):
    home, url = pg_home
    assert isinstance(client.app.state.engine.store, PostgresStore)
    write = {"X-API-Key": pg_keys["write"]}
    items = client.post("/v1/items", json={"items": tiny_items}, headers=write).json()
    assert (items["inserted"], items["updated"], items["unchanged"]) == (10, 0, 0)
    batch = {"events": tiny_events}
    assert client.post("/v1/events/batch", json=batch, headers=write).json()["added"] == 20
    again = client.post("/v1/events/batch", json=batch, headers=write).json()
    assert again == {"accepted": 20, "added": 0, "duplicates": 20}
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 10
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 20
    assert not (home / "store.sqlite").exists()


def test_fit_then_search_and_recommend(client, pg_home, pg_keys):
    admin = {"X-API-Key": pg_keys["admin"]}
    body = client.post("/v1/admin/retrain", params={"wait": "true"}, headers=admin).json()
    assert body["state"] == "done", body
    assert client.get("/health").json()["platforms"]["default"]["fitted"] is True
    assert ids(client.get("/v1/search", params={"q": "coffee grinder", "k": 3}))[0] == "c2"
    found = ids(client.get("/v1/recommend", params={"user_id": "u4", "k": 3}))
    assert len(found) == 3 and not {"c1", "c2", "c3"} & set(found)
    assert set(ids(client.get("/v1/items/c1/similar", params={"k": 2}))) == {"c2", "c3"}
    # The catalog's embeddings were cached in pgvector, not in a file in the home.
    model_id = client.app.state.engine.encoder.model_id
    with PostgresEmbeddingCache(pg_home[1]) as cache:
        assert cache.count(model_id) >= 10
    assert not (pg_home[0] / "embeddings.sqlite").exists()


def test_an_event_changes_the_next_recommendation(client, pg_keys):
    before = ids(client.get("/v1/recommend", params={"user_id": "u7", "k": 5}))
    assert before[0] != "c2"
    event = {"user_id": "u7", "item_id": "c2", "type": "click", "value": 40}
    assert (
        client.post("/v1/events", json=event, headers={"X-API-Key": pg_keys["write"]}).json()[
            "added"
        ]
        == 1
    )
    after = ids(client.get("/v1/recommend", params={"user_id": "u7", "k": 5}))
    assert after != before and "c2" not in after
    assert client.get("/v1/users/u7").json()["events"] == 3


def test_a_second_worker_shares_the_database(client, pg_home):
    with Engine.open(pg_home[0]) as other:  # another worker process would open the same
        assert other.store.count_events() == 21 and other.store.count_items() == 10
        other.add_events([{"user_id": "w2", "item_id": "h1", "type": "view", "timestamp": 1.0}])
    assert client.get("/v1/users/w2").json()["events"] == 1
