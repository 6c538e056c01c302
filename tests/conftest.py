"""Fixtures shared across the test tree: a tiny shop made here, never a real dataset."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tiny_bert import save_tiny_bert

from shoplm.store import SearchClick

os.environ.setdefault("SHOPLM_NO_PROGRESS", "1")

TINY_ITEMS = [
    ("p1", "Acme smartphone 128GB black", "Phones > Smartphones", "Acme", 499.0),
    ("p2", "Zeta smartphone 64GB blue", "Phones > Smartphones", "Zeta", 299.0),
    ("p3", "Acme silicone phone case", "Phones > Accessories", "Acme", 19.0),
    ("p4", "Zeta phone screen protector", "Phones > Accessories", "Zeta", 9.0),
    ("h1", "Sonic wireless headphones noise cancelling", "Audio > Headphones", "Sonic", 199.0),
    ("h2", "Sonic wireless earbuds", "Audio > Headphones", "Sonic", 99.0),
    ("h3", "Bassline over-ear studio headphones", "Audio > Headphones", "Bassline", 149.0),
    ("c1", "Brewmaster espresso coffee machine", "Kitchen > Coffee", "Brewmaster", 349.0),
    ("c2", "Brewmaster coffee grinder burr", "Kitchen > Coffee", "Brewmaster", 79.0),
    ("c3", "Roastery whole bean coffee 1kg", "Kitchen > Coffee", "Roastery", 25.0),
]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random BERT folder (:mod:`tiny_bert`) for tests that train an encoder."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_items() -> list[dict]:
    return [
        {"item_id": i, "title": t, "category": c, "brand": b, "price": p}
        for i, t, c, b, p in TINY_ITEMS
    ]


@pytest.fixture(scope="session")
def tiny_events() -> list[dict]:
    """Phone people buy phones and cases; coffee people buy coffee things."""
    baskets = {
        "u1": ["p1", "p3", "p4"],
        "u2": ["p2", "p4", "p3"],
        "u3": ["p1", "p4"],
        "u4": ["c1", "c2", "c3"],
        "u5": ["c2", "c3"],
        "u6": ["c1", "c3", "h2"],
        "u7": ["h1", "h2"],
        "u8": ["h3", "h1"],
    }
    events = []
    for user, items in baskets.items():
        for position, item in enumerate(items):
            events.append(
                {
                    "user_id": user,
                    "item_id": item,
                    "type": "purchase",
                    "timestamp": 1_700_000_000 + 3600 * position,
                }
            )
    return events


@pytest.fixture
def click_log(tiny_items: list[dict]) -> list[SearchClick]:
    """Each title's words, alone and in adjacent pairs, as queries; that item clicked, bought."""
    log = []
    for item in tiny_items:
        words = item["title"].lower().split()
        for query in [*words, *(" ".join(pair) for pair in itertools.pairwise(words))]:
            log.append(SearchClick(query, item["item_id"], "click"))
            log.append(SearchClick(query, item["item_id"], "purchase"))
    return log


@pytest.fixture
def click_log_home(tmp_path: Path, tiny_items: list[dict], click_log: list) -> Path:
    """An unfitted home with the tiny catalog and the click log as its only events."""
    from shoplm.engine import Engine

    home = tmp_path / "home"
    with Engine.open(home) as engine:
        engine.upsert_items(tiny_items)
        engine.add_events(
            {"user_id": f"s{n}", "item_id": c.item_id, "type": c.type, "query": c.query,
             "timestamp": float(n)}
            for n, c in enumerate(click_log)
        )  # fmt: skip
    return home


@pytest.fixture
def favour_search(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """``favour_search(True)``: the click-learned search model validates 0.6, the defaults 0.5
    (``False``: the reverse), whatever the tiny data would say."""
    from shoplm.search import clicks

    def favour(learned: bool) -> None:
        def scored(pipeline: Any, examples: object) -> float:
            is_learned = pipeline.model.info.get("source") == clicks.CLICK_SOURCE
            return 0.6 if is_learned == learned else 0.5

        monkeypatch.setattr(clicks, "validation_ndcg", scored)

    return favour


# -- PostgreSQL ---------------------------------------------------------------------------------
# The PostgreSQL backend is tested against $SHOPLM_TEST_POSTGRES_URL when set, else against a
# private throwaway cluster started here (Debian's postgresql + pgvector).  A missing server is
# a failure, never a skip: `bash .ci/install-postgres` installs both.
INSTALL_POSTGRES = "run `bash .ci/install-postgres` (Debian's postgresql and pgvector)"
PRIVATE_DATABASE = "shoplm_test"


GOOD_WORDS = ("love it", "works great", "excellent quality", "very happy with it")
BAD_WORDS = ("broke after a day", "terrible quality", "waste of money", "very disappointed")
THINGS = ("this stapler", "the desk lamp", "these pens", "the office chair", "this notebook")


@pytest.fixture(scope="session")
def labelled_reviews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 short made-up reviews (text, label, stars) a head can learn: good or bad words."""
    rows = ["text,label,stars"]
    for i, thing in enumerate(THINGS):
        for j, (good, bad) in enumerate(zip(GOOD_WORDS, BAD_WORDS, strict=True)):
            rows.append(f"{thing}: {good},positive,{4 + (i + j) % 2}")
            rows.append(f"{thing}: {bad},negative,{1 + (i + j) % 2}")
    path = tmp_path_factory.mktemp("labelled") / "reviews.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _postgres_bin() -> Path:
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if not found:
        pytest.fail(
            f"PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): {INSTALL_POSTGRES}"
        )
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def _as_postgres_user(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@contextlib.contextmanager
def _private_cluster() -> Iterator[str]:
    """initdb + pg_ctl in a temp dir, reachable only on a unix socket there; removed after."""
    bin_dir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="shoplm-pg-"))
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail(f"running as root, but there is no postgres user: {INSTALL_POSTGRES}")
        os.chown(root, account.pw_uid, account.pw_gid)
    data, log = root / "data", root / "server.log"
    settings = (
        f"-c listen_addresses='' -c unix_socket_directories='{root}' -p 5432 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )

    def tool(name: str, *args: str, check: bool = True) -> None:
        command = _as_postgres_user([str(bin_dir / name), "-D", str(data), *args])
        subprocess.run(command, check=check, capture_output=True, text=True, cwd=root)

    try:
        tool("initdb", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
        tool("pg_ctl", "-l", str(log), "-w", "-t", "60", "-o", settings, "start")
    except subprocess.CalledProcessError as error:
        server_log = log.read_text() if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start a private PostgreSQL: {error.stderr}{server_log}")
    try:
        yield f"postgresql://postgres@/{{database}}?host={root}&port=5432"
    finally:
        tool("pg_ctl", "-m", "immediate", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


def _with_search_path(url: str, schema: str) -> str:
    """``url`` whose sessions create and find tables in ``schema`` (pgvector stays in public)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query)
    query.append(("options", f"-csearch_path={schema},public"))
    encoded = urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    return urllib.parse.urlunsplit(parts._replace(query=encoded))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a database with pgvector enabled: $SHOPLM_TEST_POSTGRES_URL, or a private one."""
    try:
        import psycopg
    except ImportError:
        pytest.fail("psycopg is missing: pip install -e '.[test]' (it pins psycopg and pgvector)")
    given = os.environ.get("SHOPLM_TEST_POSTGRES_URL")
    with contextlib.ExitStack() as stack:
        if given:
            url = given
        else:
            template = stack.enter_context(_private_cluster())
            with psycopg.connect(template.format(database="postgres"), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {PRIVATE_DATABASE}")
            url = template.format(database=PRIVATE_DATABASE)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as error:
            pytest.fail(
                f"cannot enable pgvector in the test database (connect, then CREATE EXTENSION "
                f"vector): {error}\nFor the private test cluster: {INSTALL_POSTGRES}"
            )
        yield url


@pytest.fixture(scope="session")
def postgres_schema(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Makes fresh schemas (each a clean, private store) and drops them all at the end."""
    import psycopg

    made: list[str] = []

    def fresh() -> str:
        name = f"shoplm_t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        made.append(name)
        return _with_search_path(postgres_server, name)

    yield fresh
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        for name in made:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture()
def postgres_url(postgres_schema: Callable[[], str]) -> str:
    """A database URL whose tables nobody else sees: one fresh schema per test."""
    return postgres_schema()


# -- Sequences ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def interactions_from_histories() -> Callable[..., object]:
    """Builds ``Interactions`` from per-user item-row histories (the sequence models' tests).

    Users are ``u00, u01...`` in history order, items ``i0, i1...``; every history item
    counts once in the matrix; no timestamps.
    """
    import numpy as np
    import scipy.sparse as sp

    from shoplm.interactions import Interactions

    def build(histories: list[np.ndarray], n_items: int) -> Interactions:
        rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
        matrix = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, np.concatenate(histories))),
            shape=(len(histories), n_items),
        )
        return Interactions(
            item_ids=[f"i{i}" for i in range(n_items)],
            user_ids=[f"u{u:02d}" for u in range(len(histories))],
            matrix=matrix,
            histories=histories,
            last_timestamps=np.full(n_items, np.nan),
        )

    return build
