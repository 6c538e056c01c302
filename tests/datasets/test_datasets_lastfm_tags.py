"""Last.fm artist tags come only from the (user, artist) pairs that stay in training."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

from shoplm.datasets.lastfm import load_lastfm
from shoplm.evaluation.splits import leave_one_out


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(gzip.compress(buffer.getvalue().encode(), mtime=0))


def make_folder(folder: Path) -> Path:
    """User 1 tags all four artists it played; user 2 (too short to hold out) tags one."""
    folder.mkdir(parents=True)
    write_csv(
        folder / "artists.csv.gz",
        ["artist_id", "name", "url"],
        [[a, f"artist {a}", ""] for a in (10, 11, 12, 13)],
    )
    write_csv(
        folder / "user_artist_plays.csv.gz",
        ["user_id", "artist_id", "play_count", "tags"],
        [
            [1, 10, 900, "rock"],
            [1, 11, 800, "rock,indie"],
            [1, 12, 700, "jazz"],  # validation pair under leave-one-out
            [1, 13, 600, "jazz,rock"],  # test pair
            [2, 13, 50, "blues"],
            [2, 12, 40, ""],
        ],
    )
    write_csv(folder / "kg_triples.csv.gz", ["head_entity", "relation", "tail_entity"], [])
    write_csv(folder / "artist_entity_link.csv.gz", ["artist_id", "entity_id"], [])
    return folder


def test_held_out_pairs_lend_no_tags(tmp_path: Path) -> None:
    data = load_lastfm(make_folder(tmp_path / "fm"))
    tags = {item.item_id: item.attributes.get("tags", "") for item in data.items}
    assert tags == {"10": "rock", "11": "indie, rock", "12": "", "13": "blues"}
    split = leave_one_out(data.sequences)
    held = {split.test_targets["1"], split.valid_targets["1"]}
    assert held == {"12", "13"}  # exactly the pairs whose tags were left out
