"""GET /v1/heads and POST /v1/heads/{name}/predict over a home with a trained head."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shoplm.heads import HeadConfig
from shoplm.heads.home import train_home_head
from shoplm.server import ServerSettings, create_app
from shoplm.server.api_models import MAX_HEAD_TEXTS


@pytest.fixture(scope="module")
def client(served_home, labelled_reviews):
    config = HeadConfig(mode="probe", max_seq_length=32)
    train_home_head(served_home, "mood", labelled_reviews, config)
    with TestClient(create_app(served_home, ServerSettings(compute_threads=None))) as test_client:
        yield test_client


def test_heads_are_listed_with_their_scores(client) -> None:
    body = client.get("/v1/heads").json()
    (head,) = body["heads"]
    assert head["name"] == "mood" and head["mode"] == "probe"
    assert head["task"]["labels"] == ["negative", "positive"]
    assert 0.0 <= head["metrics"]["test"]["macro_f1"] <= 1.0


def test_predict_answers_each_text_in_order(client) -> None:
    texts = ["these pens: waste of money", "the office chair: love it"]
    response = client.post("/v1/heads/mood/predict", json={"texts": texts})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["head"] == "mood" and body["took_ms"] >= 0
    assert [p["label"] for p in body["predictions"]] == ["negative", "positive"]
    assert body["predictions"][0]["probabilities"]["negative"] > 0.5


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1/heads/gloom/predict", {"texts": ["x"]}, 404),
        ("/v1/heads/mood/predict", {"texts": []}, 422),
        ("/v1/heads/mood/predict", {"texts": [""]}, 422),
        ("/v1/heads/mood/predict", {"texts": ["x"] * (MAX_HEAD_TEXTS + 1)}, 422),
        ("/v1/heads/mood/predict", {"text": "x"}, 422),
        ("/v1/heads/bad%20name/predict", {"texts": ["x"]}, 422),
    ],
)
def test_bad_requests_are_problems(client, path: str, body: dict, status: int) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Traceback" not in response.text and response.json()["detail"]
