"""A fitted tiny shop home, made once per session; each test module serves its own copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shoplm.engine import Engine
from shoplm.server.auth import KeyStore


@pytest.fixture(scope="session")
def fitted_home(tmp_path_factory, tiny_items, tiny_events) -> Path:
    home = tmp_path_factory.mktemp("fitted") / "home"
    with Engine.open(home) as engine:
        engine.upsert_items(tiny_items)
        engine.add_events(tiny_events)
        engine.fit()
    return home


@pytest.fixture(scope="module")
def served_home(fitted_home, tmp_path_factory) -> Path:
    """A private copy of the fitted home for one test module (writes stay in it)."""
    home = tmp_path_factory.mktemp("served") / "home"
    shutil.copytree(fitted_home, home)
    return home


@pytest.fixture(scope="module")
def keys(served_home) -> dict[str, str]:
    store = KeyStore(served_home)
    return {scope: store.create(f"test-{scope}", scope)[0] for scope in ("read", "write", "admin")}
