"""kill -9 under write load: every event the API acknowledged is in the store after restart.

Runs the real ``shoplm serve`` as a subprocess on loopback, posts events from threads,
kills the server with SIGKILL while they post, restarts it and reads the store.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from shoplm.server.auth import KeyStore

STARTUP_S = 120
LOAD_THREADS = 3
ACKS_BEFORE_KILL = 150


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "shoplm.cli", "serve", "--home", str(home)]
    command += ["--port", str(port), "--log-level", "info"]
    env = {**os.environ, "SHOPLM_NO_PROGRESS": "1"}
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"server did not start in {STARTUP_S} s:\n{log.read_text()}")


def post_until_dead(base: str, key: str, worker: int, acked: list[str]) -> None:
    """Post single events and batches until the server stops answering."""
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=base, headers=headers, timeout=5) as client:
        for n in range(100_000):
            ids = [f"w{worker}-{n}-{i}" for i in range(1 if n % 2 else 4)]
            events = [
                {"user_id": f"load{worker}", "item_id": "h1", "type": "view", "event_id": i}
                for i in ids
            ]
            try:
                if len(events) == 1:
                    response = client.post("/v1/events", json=events[0])
                else:
                    response = client.post("/v1/events/batch", json={"events": events})
            except httpx.HTTPError:
                return  # the server is gone: what was not acknowledged may or may not be stored
            if response.status_code != 200:
                raise AssertionError(f"unexpected {response.status_code}: {response.text}")
            acked.extend(ids)


def test_acknowledged_events_survive_kill_9(served_home, tmp_path):
    key, _ = KeyStore(served_home).create("durability", "write")
    (served_home / "server.json").write_text('{"warm_up": false}')  # events need no encoder
    log = tmp_path / "server.log"
    process, base = start_server(served_home, log)
    acked: list[str] = []
    workers = [
        threading.Thread(target=post_until_dead, args=(base, key, w, acked))
        for w in range(LOAD_THREADS)
    ]
    try:
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 60
        while len(acked) < ACKS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)  # mid-load, no shutdown of any kind
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        for worker in workers:
            worker.join(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert len(acked) >= ACKS_BEFORE_KILL, log.read_text()

    restarted, base = start_server(served_home, log)
    try:
        with sqlite3.connect(served_home / "store.sqlite") as conn:
            stored = {row[0] for row in conn.execute("SELECT event_key FROM events")}
        missing = [i for i in acked if f"id:default:{i}" not in stored]
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:5]}"
        profile = httpx.get(f"{base}/v1/users/load0", timeout=10).json()
        assert profile["events"] > 0
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)
    assert key not in log.read_text()  # secrets never reach the log
