"""HTTP load bench: req/s and latency percentiles of search and recommend on loopback.

Builds (once, then reuses) an engine home from a dataset folder (default: the amazon_office
catalog in ../shared/data), starts the real ``shoplm serve`` as a subprocess on 127.0.0.1,
and drives it with a small asyncio HTTP/1.1 keep-alive load generator in this process:

- **closed loop** (``--concurrency`` connections, each sending its next request as soon as
  the previous answer arrives): the most requests per second the server sustains;
- **open loop** at a fixed offered load (``--rate`` for recommend, ``--search-rate`` for
  search): latency measured from each request's *scheduled* time, so a server that falls
  behind shows its queueing (no coordinated omission); what it could not even send within
  the phase is counted as dropped.

Every phase is bounded by ``--seconds`` and ``--max-requests``.  Requests go to loopback
only.  Example (the figures in the README and issue note come from this command):

    .venv/bin/python bench/bench_http.py --data ../shared/data/amazon_office --json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon_office"
HOST = "127.0.0.1"
LATE_GRACE_S = 1.0  # open loop: requests not sent by the phase's end + this are dropped


# -- the engine home -------------------------------------------------------------------------
def build_home(data: Path, home: Path) -> None:
    """Ingest a recommendation dataset's catalog and interactions, fit (skipped if done)."""
    from shoplm.datasets import load_dataset
    from shoplm.engine import Engine
    from shoplm.evaluation.runner import embedding_cache_path

    if (home / "platforms").exists():
        return
    dataset = load_dataset(data)
    if not hasattr(dataset, "sequences"):
        raise SystemExit(f"{data} is not a recommendation dataset (no user sequences)")
    started = time.perf_counter()
    with Engine.open(home, embedding_cache=embedding_cache_path(), show_progress=False) as engine:
        engine.upsert_items(dataset.items)
        engine.add_events(list(dataset.events()))
        report = engine.fit()
    print(
        f"[bench] built {home}: {report['items']} items, {report['users']} users, "
        f"{report['interactions']} interactions in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )


def workload(home: Path, seed: int) -> tuple[list[str], list[str]]:
    """Search queries (2-3 word windows of item titles) and user ids, from the home's store."""
    from shoplm.store import SQLiteStore

    store = SQLiteStore(home / "store.sqlite")
    try:
        platform = store.platforms()[0]
        titles = [item.title for item in store.iter_items(platform)]
        users = sorted(set(store.event_columns(platform).user_ids.tolist()))
    finally:
        store.close()
    rng = random.Random(seed)
    queries: dict[str, None] = {}  # distinct and never repeated in a run: no cache hits
    for _ in range(50_000):
        words = rng.choice(titles).split()
        length = rng.choice((2, 3))
        start = rng.randrange(max(1, len(words) - length + 1))
        queries[" ".join(words[start : start + length]) or "office"] = None
    return list(queries), rng.sample(users, len(users))


# -- the server --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(home: Path, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "shoplm.cli", "serve", "--home", str(home)]
    command += ["--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "SHOPLM_NO_PROGRESS": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}: see {log}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server did not start in time: see {log}")


# -- the load generator ---------------------------------------------------------------------------
class Connection:
    """One keep-alive HTTP/1.1 connection sending GETs and reading whole answers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            (
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            ),
            0,
        )
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def run_phase(
    port: int,
    paths: Iterator[str],
    seconds: float,
    max_requests: int,
    concurrency: int,
    rate: float | None,
) -> dict:
    """Closed loop (rate None) or open loop at ``rate``; latencies in seconds."""
    latencies: list[float] = []
    errors = dropped = 0
    counter = itertools.count()
    started = time.perf_counter()
    stop_at = started + seconds

    async def worker() -> None:
        nonlocal errors, dropped
        connection = Connection(port)
        try:
            while True:
                n = next(counter)
                if n >= max_requests:
                    return
                if rate is None:
                    scheduled = time.perf_counter()
                else:
                    scheduled = started + n / rate
                    delay = scheduled - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if scheduled >= stop_at:
                    return
                if time.perf_counter() >= stop_at + LATE_GRACE_S:
                    dropped += 1  # the server fell so far behind that the phase is over
                    continue
                try:
                    status = await connection.get(next(paths))
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    connection.close()
                    connection = Connection(port)
                    continue
                latencies.append(time.perf_counter() - scheduled)
                if status != 200:
                    errors += 1
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {
        "mode": "closed" if rate is None else f"open@{rate:g}/s",
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "dropped": dropped,
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
        "p90_ms": round(float(np.percentile(ms, 90)), 2) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
        "max_ms": round(float(ms.max()), 2) if len(ms) else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset folder")
    parser.add_argument("--home", type=Path, help="engine home [built from --data, cached]")
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--max-requests", type=int, default=20_000, help="per phase")
    parser.add_argument("--concurrency", type=int, default=4, help="closed-loop connections")
    parser.add_argument(
        "--rate", type=float, default=200.0, help="open-loop req/s for recommend (0: skip)"
    )
    parser.add_argument(
        "--search-rate", type=float, default=40.0, help="open-loop req/s for search (0: skip)"
    )
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--endpoints", default="recommend,search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    if args.home is None:
        cache = Path(os.environ.get("SHOPLM_CACHE_DIR") or Path.home() / ".cache" / "shoplm")
        args.home = cache / "bench-http" / args.data.resolve().name
    build_home(args.data, args.home)
    queries, users = workload(args.home, args.seed)
    paths = {
        "recommend": [f"/v1/recommend?{urlencode({'user_id': u, 'k': args.k})}" for u in users],
        "search": [f"/v1/search?{urlencode({'q': q, 'k': args.k})}" for q in queries],
    }
    port = free_port()
    log = args.home / "bench-server.log"
    server = start_server(args.home, port, log)
    results: dict[str, dict] = {}
    try:
        for endpoint in [e.strip() for e in args.endpoints.split(",") if e.strip()]:
            stream = iter(
                paths[endpoint] * 20
            )  # shared by the phases: no query repeats until the list runs out
            warm = run_phase(port, stream, 2.0, 200, 2, None)
            asyncio.run(warm)
            phases = [
                asyncio.run(
                    run_phase(
                        port,
                        stream,
                        args.seconds,
                        args.max_requests,
                        args.concurrency,
                        None,
                    )
                )
            ]
            rate = args.rate if endpoint == "recommend" else args.search_rate
            if rate > 0:
                open_loop = run_phase(
                    port,
                    stream,
                    args.seconds,
                    args.max_requests,
                    max(32, args.concurrency),
                    rate,
                )
                phases.append(asyncio.run(open_loop))
            results[endpoint] = {"phases": phases}
            if not args.json:
                for phase in phases:
                    print(f"{endpoint:10} {json.dumps(phase)}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    report = {
        "bench": "http",
        "dataset": args.data.name,
        "home": str(args.home),
        "cpus": os.cpu_count(),
        "k": args.k,
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
