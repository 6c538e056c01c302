"""Prometheus text-format metrics, kept in process (no extra dependency).

Request counts and latency histograms per route template (``/v1/items/{item_id}``, not
the raw path, so ids do not explode the label set), plus gauges the app reads on scrape.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Gauge = tuple[str, str, dict[str, str], float]  # name, help, labels, value


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class Metrics:
    """Counters and histograms updated by the middleware; gauges collected on scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}  # bucket counts + [sum, count]
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._collectors: list[Callable[[], Iterable[Gauge]]] = []
        self.started_at = time.time()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            hist = self._latency.setdefault((method, route), [0.0] * (len(BUCKETS) + 3))
            hist[bisect.bisect_left(BUCKETS, seconds)] += 1
            hist[-2] += seconds
            hist[-1] += 1

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        with self._lock:
            key = (name, tuple(sorted(labels.items())))
            self._counters[key] = self._counters.get(key, 0.0) + amount

    def add_collector(self, collect: Callable[[], Iterable[Gauge]]) -> None:
        self._collectors.append(collect)

    def render(self) -> str:
        lines = [
            "# HELP shoplm_http_requests_total HTTP requests by method, route and status.",
            "# TYPE shoplm_http_requests_total counter",
        ]
        with self._lock:
            requests = dict(self._requests)
            latency = {k: list(v) for k, v in self._latency.items()}
            counters = dict(self._counters)
        for (method, route, status), count in sorted(requests.items()):
            labels = _labels({"method": method, "route": route, "status": status})
            lines.append(f"shoplm_http_requests_total{labels} {count}")
        lines += [
            "# HELP shoplm_http_request_duration_seconds Time to answer, by method and route.",
            "# TYPE shoplm_http_request_duration_seconds histogram",
        ]
        for (method, route), hist in sorted(latency.items()):
            cumulative = 0.0
            for bound, count in zip([*BUCKETS, float("inf")], hist[:-2], strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                labels = _labels({"method": method, "route": route, "le": le})
                lines.append(f"shoplm_http_request_duration_seconds_bucket{labels} {cumulative:g}")
            labels = _labels({"method": method, "route": route})
            lines.append(f"shoplm_http_request_duration_seconds_sum{labels} {hist[-2]:.6f}")
            lines.append(f"shoplm_http_request_duration_seconds_count{labels} {hist[-1]:g}")
        seen: set[str] = set()
        for (name, labels), value in sorted(counters.items()):
            if name not in seen:
                lines.append(f"# TYPE {name} counter")
                seen.add(name)
            lines.append(f"{name}{_labels(dict(labels))} {value:g}")
        gauges: dict[str, tuple[str, list[tuple[dict[str, str], float]]]] = {}
        for collect in self._collectors:
            for name, help_text, labels, value in collect():
                gauges.setdefault(name, (help_text, []))[1].append((labels, value))
        for name, (help_text, rows) in gauges.items():
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} gauge")
            for labels, value in rows:
                lines.append(f"{name}{_labels(labels)} {float(value):g}")
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Plain ASGI middleware: times each HTTP request and records its route template."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "(unmatched)"
            self.metrics.observe(
                scope.get("method", "GET"), path, status[0], time.perf_counter() - started
            )
