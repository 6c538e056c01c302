"""Prometheus text format: counters, cumulative histogram buckets, gauges, label escaping."""

from __future__ import annotations

from shoplm.server.metrics import Metrics


def test_render_counts_buckets_and_gauges():
    metrics = Metrics()
    metrics.observe("GET", "/v1/search", 200, 0.004)
    metrics.observe("GET", "/v1/search", 200, 0.2)
    metrics.observe("GET", "/v1/search", 422, 30.0)  # beyond the last bucket
    metrics.inc("shoplm_events_stored_total", 3)
    metrics.add_collector(lambda: [("shoplm_items", "Items.", {"platform": 'a"b\\c'}, 7)])
    text = metrics.render()
    assert 'shoplm_http_requests_total{method="GET",route="/v1/search",status="200"} 2' in text
    bucket = 'shoplm_http_request_duration_seconds_bucket{method="GET",route="/v1/search",le='
    assert f'{bucket}"0.005"}} 1' in text
    assert f'{bucket}"0.25"}} 2' in text
    assert f'{bucket}"+Inf"}} 3' in text
    assert 'shoplm_http_request_duration_seconds_count{method="GET",route="/v1/search"} 3' in text
    assert "shoplm_events_stored_total 3" in text
    assert 'shoplm_items{platform="a\\"b\\\\c"} 7' in text
    assert text.endswith("\n") and "# TYPE shoplm_items gauge" in text
