"""API keys (hashed at rest, scopes, CLI), keyed reads, CORS and server settings."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shoplm.cli import app as cli
from shoplm.server import ServerSettings, create_app
from shoplm.server.auth import KEYS_FILE, KeyStore


def test_keys_are_stored_hashed_and_checked_by_scope(tmp_path):
    store = KeyStore(tmp_path)
    key, record = store.create("shop frontend", "write")
    stored = (tmp_path / KEYS_FILE).read_text()
    secret = key.split("_", 2)[2]
    assert secret not in stored and record.hash in stored
    assert store.verify(key) == record
    assert store.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.verify("not-a-key") is None
    assert record.allows("read") and record.allows("write") and not record.allows("admin")
    with pytest.raises(ValueError, match="scope"):
        store.create("x", "superuser")
    assert store.revoke(record.id) and store.verify(key) is None
    assert not store.revoke(record.id)


def test_a_second_keystore_sees_new_keys_at_once(tmp_path):
    serving = KeyStore(tmp_path)
    key, _ = KeyStore(tmp_path).create("later", "admin")  # e.g. `shoplm keys create`
    assert serving.verify(key) is not None


def test_keys_cli_creates_lists_and_revokes(tmp_path):
    runner = CliRunner()
    made = runner.invoke(
        cli, ["keys", "create", "--home", str(tmp_path), "--scope", "admin", "--json"]
    )
    assert made.exit_code == 0, made.output
    payload = json.loads(made.stdout)
    assert payload["scope"] == "admin" and KeyStore(tmp_path).verify(payload["key"]) is not None
    listed = runner.invoke(cli, ["keys", "list", "--home", str(tmp_path), "--json"])
    assert payload["key"] not in listed.stdout
    assert json.loads(listed.stdout)["keys"][0]["id"] == payload["id"]
    bad = runner.invoke(cli, ["keys", "create", "--home", str(tmp_path), "--scope", "root"])
    assert bad.exit_code == 2 and "scope" in bad.output
    assert (
        runner.invoke(cli, ["keys", "revoke", payload["id"], "--home", str(tmp_path)]).exit_code
        == 0
    )
    assert (
        runner.invoke(cli, ["keys", "revoke", payload["id"], "--home", str(tmp_path)]).exit_code
        == 2
    )


def test_reads_can_require_a_key(served_home, keys):
    settings = ServerSettings(read_requires_key=True, metrics_requires_key=True)
    client = TestClient(create_app(served_home, settings))  # no lifespan: nothing is started
    response = client.get("/v1/users/u1")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    ok = client.get("/v1/users/u1", headers={"X-API-Key": keys["read"]})
    assert ok.status_code == 200 and ok.json()["events"] == 3
    assert client.get("/metrics", headers={"X-API-Key": keys["write"]}).status_code == 403
    assert client.get("/metrics", headers={"X-API-Key": keys["admin"]}).status_code == 200
    assert client.get("/health").status_code == 200  # always public


def test_cors_allows_only_configured_origins(served_home):
    settings = ServerSettings(cors_origins=["https://shop.example"])
    client = TestClient(create_app(served_home, settings))
    headers = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    allowed = client.options("/v1/events", headers=headers)
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    other = client.options("/v1/events", headers={**headers, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    closed = TestClient(create_app(served_home, ServerSettings()))
    assert "access-control-allow-origin" not in closed.get("/health", headers=headers).headers


def test_server_settings_layers(tmp_path, monkeypatch):
    (tmp_path / "server.json").write_text(
        json.dumps({"port": 9000, "realtime": {"explore_slots": 3, "session_weight": 2.0}})
    )
    monkeypatch.setenv("SHOPLM_CORS_ORIGINS", "https://a.example, https://b.example")
    settings = ServerSettings.load(tmp_path, port=9100, realtime={"explore_slots": 0})
    assert settings.port == 9100
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.realtime.explore_slots == 0 and settings.realtime.session_weight == 2.0
    (tmp_path / "server.json").write_text(json.dumps({"prot": 1}))
    with pytest.raises(ValueError, match="prot"):
        ServerSettings.load(tmp_path)
