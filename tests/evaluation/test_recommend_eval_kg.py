"""The recommendation evaluation with a knowledge graph: kg, hybrid and hybrid-no-kg rows,
the dataset's triples added before the fit, and explanation coverage checked on paths."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pytest

from shoplm.evaluation.recommend_eval import evaluate_recommend, fit_list

MODELS = ["kg", "hybrid", "hybrid-no-kg"]
SCENES = ("trip-hop", "metal", "jazz")


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(gzip.compress(buffer.getvalue().encode(), mtime=0))


def write_lastfm(folder: Path) -> Path:
    """24 artists in 3 scenes (known only through the KG, which joins the scenes under
    "music"); each user plays 5 artists of one scene."""
    folder.mkdir(parents=True)
    artists = [[a, f"Band {a}", ""] for a in range(24)]
    plays = []
    for user in range(30):
        own = [a for a in range(24) if a % 3 == user % 3]
        start = user // 3
        for position in range(5):
            plays.append([user, own[(start + position) % 8], 100 - position, ""])
    triples = [[f"e{a}", "music.artist.genre", f"scene-{SCENES[a % 3]}"] for a in range(24)]
    triples += [[f"scene-{scene}", "music.genre.parent_genre", "music"] for scene in SCENES]
    write_csv(folder / "artists.csv.gz", ["artist_id", "name", "url"], artists)
    write_csv(
        folder / "user_artist_plays.csv.gz", ["user_id", "artist_id", "play_count", "tags"], plays
    )
    write_csv(folder / "kg_triples.csv.gz", ["head_entity", "relation", "tail_entity"], triples)
    write_csv(
        folder / "artist_entity_link.csv.gz",
        ["artist_id", "entity_id"],
        [[a, f"e{a}"] for a in range(24)],
    )
    return folder


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = write_lastfm(tmp_path_factory.mktemp("fm") / "lastfm_hetrec")
    return evaluate_recommend(folder, models=MODELS, ks=(5, 10), tune=False)


def test_kg_and_both_hybrids_are_listed_by_name(result: dict) -> None:
    assert list(result["metrics"]) == MODELS
    assert result["knowledge"] == {"triples_added": 27, "triples": 27, "links": 24}
    assert "27 external triples" in result["protocol"]
    # the scene is known only through the KG: kg finds each user's next artist
    assert result["metrics"]["kg"]["HR@10"] == 1.0
    sources = {m: result["model_params"][m]["sources"] for m in ("hybrid", "hybrid-no-kg")}
    assert "kg" in sources["hybrid"] and "kg" not in sources["hybrid-no-kg"]
    assert {k: v for k, v in sources["hybrid"].items() if k != "kg"} == sources["hybrid-no-kg"]


def test_explanations_are_checked_for_kg_and_the_hybrids(result: dict) -> None:
    assert list(result["explanations"]) == MODELS
    for report in result["explanations"].values():
        assert report["recommendations"] == report["n_users"] * 10 == 300
        assert report["coverage"] == report["faithful"] / report["recommendations"] >= 0.95
        assert report["faithful"] == sum(
            n for kind, n in report["kinds"].items() if kind != "unexplained"
        )
    # artists of another scene are reached only through the KG's scene -> "music" links
    assert set(result["explanations"]["kg"]["kinds"]) == {"path", "co_purchase"}
    assert "checked edge by edge" in result["protocol"]


def test_hybrid_sources_are_fitted_once_before_the_hybrids() -> None:
    order = fit_list(["itemknn", "hybrid", "hybrid-no-kg"], {"itemknn": 1.0})
    assert order[0] == "itemknn" and order[-2:] == ["hybrid-no-kg", "hybrid"]
    assert {"kg", "als", "sasrec-text", "content", "popularity"} <= set(order)
    assert fit_list(["kg", "blend"], {"itemknn": 1.0, "content": 1.0}) == [
        "kg",
        "itemknn",
        "content",
    ]


def test_unknown_models_are_named(tmp_path: Path) -> None:
    folder = write_lastfm(tmp_path / "lastfm_hetrec")
    with pytest.raises(ValueError, match=r"unknown model\(s\) \['hybrid-no-graph'\]"):
        evaluate_recommend(folder, models=["hybrid-no-graph"])
