"""Search learned from the click log at fit time: kept only when it validates higher."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from shoplm.fitted import FittedPlatform
from shoplm.search import clicks as clicks_module
from shoplm.search.clicks import (
    CLICK_SOURCE,
    MIN_QUERIES,
    _busiest,
    learn_search_from_clicks,
    popularity_outside_search,
)
from shoplm.search.learn import fit_search_model
from shoplm.search.model import MODEL_FILE, SearchModel
from shoplm.search.pipeline import SearchPipeline
from shoplm.store import EventColumns, SearchClick


def test_the_log_has_enough_queries_to_validate(click_log: list[SearchClick]) -> None:
    assert len({click.query for click in click_log}) >= MIN_QUERIES


def test_a_small_log_keeps_the_defaults(
    fitted: FittedPlatform, encoder: object, tmp_path: Path, click_log: list[SearchClick]
) -> None:
    report = learn_search_from_clicks(click_log[:20], fitted, encoder, tmp_path)
    assert (
        report["click_queries"] == len({c.query for c in click_log[:20]}) == 9
    )  # "smartphone" twice
    assert not report["learned"]
    assert f"under {MIN_QUERIES} queries" in report["reason"]
    assert not (tmp_path / MODEL_FILE).exists()


def test_the_learned_model_is_kept_only_while_it_validates_higher(
    fitted: FittedPlatform,
    encoder: object,
    tmp_path: Path,
    click_log: list[SearchClick],
    favour_search: Callable[[bool], None],
) -> None:
    favour_search(True)
    kept = learn_search_from_clicks(click_log, fitted, encoder, tmp_path)
    assert kept["learned"] and kept["validation"]["ndcg@10"] == {"default": 0.5, "learned": 0.6}
    saved = SearchModel.load(tmp_path)
    assert saved is not None and saved.info["source"] == CLICK_SOURCE
    assert saved.info["n_examples"] == kept["click_queries"]  # refitted on every query
    assert kept["validation"]["queries"] == round(kept["click_queries"] * 0.2)

    favour_search(False)  # the next fit's log no longer favours it
    dropped = learn_search_from_clicks(click_log, fitted, encoder, tmp_path)
    assert not dropped["learned"] and "did not validate higher" in dropped["reason"]
    assert not (tmp_path / MODEL_FILE).exists()  # the defaults apply again


def test_a_model_fitted_on_judgments_is_never_replaced(
    fitted: FittedPlatform, encoder: object, tmp_path: Path, click_log: list[SearchClick]
) -> None:
    judged = fit_search_model(
        SearchPipeline(fitted, encoder), [("coffee grinder", {fitted.item_index["c2"]: 2.0})]
    )
    path = judged.save(tmp_path)
    before = path.read_text()
    report = learn_search_from_clicks(click_log, fitted, encoder, tmp_path)
    assert not report["learned"] and report["reason"] == "kept the model fitted on judgments"
    assert path.read_text() == before


def test_the_decision_follows_the_real_validation_scores(
    fitted: FittedPlatform, encoder: object, tmp_path: Path, click_log: list[SearchClick]
) -> None:
    report = learn_search_from_clicks(click_log, fitted, encoder, tmp_path)
    scores = report["validation"]["ndcg@10"]
    assert all(0.0 <= value <= 1.0 for value in scores.values())
    assert report["learned"] == (scores["learned"] > scores["default"])
    assert (tmp_path / MODEL_FILE).exists() == report["learned"]


def test_a_large_log_uses_its_busiest_queries(
    fitted: FittedPlatform,
    encoder: object,
    tmp_path: Path,
    click_log: list[SearchClick],
    monkeypatch: pytest.MonkeyPatch,
    favour_search: Callable[[bool], None],
) -> None:
    monkeypatch.setattr(clicks_module, "MIN_QUERIES", 5)
    favour_search(True)
    report = learn_search_from_clicks(click_log, fitted, encoder, tmp_path, max_queries=10)
    assert report["click_queries"] == len({c.query for c in click_log}) > 10
    assert report["validation"]["queries"] == 2  # a fifth of the 10 used
    saved = SearchModel.load(tmp_path)
    assert saved is not None and saved.info["n_examples"] == 10


def test_the_busiest_queries_keep_their_log_order() -> None:
    examples = [
        ("a", {"x": 1.0}),
        ("b", {"x": 3.0}),
        ("c", {"x": 1.0, "y": 1.0}),
        ("d", {"x": 2.0}),  # ties with c: the one logged first wins
    ]
    assert _busiest(examples, 2) == [examples[1], examples[2]]
    assert _busiest(examples, 9) == examples


def test_popularity_while_learning_leaves_the_click_log_out() -> None:
    columns = EventColumns(
        user_ids=np.array(["u1", "u2", "u3", "u3"], dtype=object),
        item_ids=np.array(["a", "a", "b", "a"], dtype=object),
        types=np.array(["view", "purchase", "click", "click"], dtype=object),
        values=np.full(4, np.nan),
        timestamps=np.arange(4, dtype=np.float64),
        session_ids=np.array([""] * 4, dtype=object),
        queries=np.array(["", "", "earbuds", "headphones"], dtype=object),
    )
    popularity = popularity_outside_search(columns, ["a", "b", "c"])
    assert popularity is not None
    assert popularity.tolist() == [1.0, 0.0, 0.0]  # a: u1 and u2 outside search; b: a click only
    clicks_only = EventColumns(*(np.asarray(v)[2:] for v in vars(columns).values()))
    assert popularity_outside_search(clicks_only, ["a", "b"]) is None


def test_learning_and_validation_read_the_given_popularity(
    fitted: FittedPlatform,
    encoder: object,
    tmp_path: Path,
    click_log: list[SearchClick],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = np.linspace(0, 1, fitted.n_items, dtype=np.float32)
    seen = []
    monkeypatch.setattr(
        clicks_module,
        "validation_ndcg",
        lambda pipeline, examples: seen.append(pipeline.context.popularity) or 0.5,
    )
    learn_search_from_clicks(click_log, fitted, encoder, tmp_path, popularity=given)
    assert len(seen) == 2 and all(p is given for p in seen)
