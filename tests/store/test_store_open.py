"""open_store and the store setting: SQLite stays the default, a URL picks PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoplm.config import Settings
from shoplm.store import SQLiteStore, is_postgres_url, open_store
from shoplm.store.postgres import PostgresStore


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("{tmp}/a/store.sqlite", "{tmp}/a/store.sqlite"),
        ("sqlite:///{tmp}/b.sqlite", "{tmp}/b.sqlite"),  # sqlite:////abs/path once formatted
    ],
)
def test_paths_and_sqlite_urls_open_sqlite(tmp_path: Path, given: str, expected: str) -> None:
    store = open_store(given.format(tmp=tmp_path))
    assert isinstance(store, SQLiteStore)
    assert store.path == Path(expected.format(tmp=tmp_path))
    store.close()


def test_relative_sqlite_paths_are_taken_from_the_base(tmp_path: Path) -> None:
    for given in ("rel/store.sqlite", "sqlite:///rel/store.sqlite"):
        store = open_store(given, base=tmp_path)
        assert store.path == tmp_path / "rel" / "store.sqlite"
        store.close()
    absolute = open_store(tmp_path / "x.sqlite", base=Path("/elsewhere"))
    assert absolute.path == tmp_path / "x.sqlite"  # an absolute path ignores the base
    absolute.close()


def test_unknown_schemes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unsupported store URL 'mysql://x/y'"):
        open_store("mysql://x/y")
    with pytest.raises(ValueError, match="names no file"):
        open_store("sqlite:///")
    assert is_postgres_url("postgresql://u@h/db") and is_postgres_url("postgres://u@h/db")
    assert not is_postgres_url(tmp_path) and not is_postgres_url("sqlite:///x")


def test_postgres_urls_open_postgres(postgres_url: str) -> None:
    store = open_store(postgres_url)
    assert isinstance(store, PostgresStore)
    store.close()


def test_store_url_setting_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOPLM_STORE_URL", raising=False)
    assert Settings.load(tmp_path).store.url is None  # the home's store.sqlite
    (tmp_path / "config.json").write_text('{"store": {"url": "postgresql://a@h/shop"}}')
    assert Settings.load(tmp_path).store.url == "postgresql://a@h/shop"
    monkeypatch.setenv("SHOPLM_STORE_URL", "postgresql://b@h/shop")
    assert Settings.load(tmp_path).store.url == "postgresql://b@h/shop"
    assert Settings.load(tmp_path, store={"url": "x.sqlite"}).store.url == "x.sqlite"
    (tmp_path / "config.json").write_text('{"store": {"uri": "typo"}}')
    with pytest.raises(ValueError, match="uri"):
        Settings.load(tmp_path)
