"""The `store` fixture: every contract test runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shoplm.store import Store, open_store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = open_store(tmp_path / "home" / "store.sqlite")
    else:
        opened = open_store(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()
