"""``Metrics``: plain counters on the hot path, the same Prometheus exposition as prometheus_client's own
Counter and Histogram would give for the same observations (``_created`` times aside)."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tidegate import __version__
from tidegate.metrics import Metrics
from tidegate.model.outcome import OUTCOME_CATEGORIES


class _Reference:
    """The families as stock prometheus_client objects, registered in Metrics' order."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.dispatched = Counter(
            "tidegate_actions_dispatched", "Pipeline runs that produced an outcome.", registry=r
        )
        outcomes = Counter(
            "tidegate_action_outcomes", "Pipeline outcomes by category.", ["outcome"], registry=r
        )
        self.outcomes = {category: outcomes.labels(category) for category in OUTCOME_CATEGORIES}
        self.dry_runs = Counter("tidegate_dry_runs", "Dry-run evaluations.", registry=r)
        self.provider = Counter(
            "tidegate_provider_requests", "Provider attempts by result.", ["provider", "result"], registry=r
        )
        self.provider_seconds = Histogram(
            "tidegate_provider_request_duration_seconds",
            "Duration of each provider attempt.",
            ["provider"],
            registry=r,
        )
        self.subscribers = Gauge(
            "tidegate_stream_subscribers", "Open SSE connections on this instance.", registry=r
        )
        self.events = Counter(
            "tidegate_stream_events", "Events this instance appended to the event log.", ["type"], registry=r
        )
        self.lagged = Counter(
            "tidegate_stream_lagged_events", "Events dropped for slow subscribers.", registry=r
        )
        self.http = Counter(
            "tidegate_http_requests", "HTTP requests.", ["method", "route", "status"], registry=r
        )
        self.http_seconds = Histogram(
            "tidegate_http_request_duration_seconds",
            "HTTP request duration.",
            ["method", "route"],
            registry=r,
        )
        Gauge("tidegate_build_info", "Build information.", ["version"], registry=r).labels(__version__).set(1)


_DURATIONS = (0.0, 0.001, 0.005, 0.0051, 0.3, 2.5, 10.0, 12.0)


def _feed(metrics: Metrics) -> None:
    for category in ("executed", "failed", "executed", "suppressed"):
        metrics.record_outcome(category)
    metrics.record_dry_run()
    for seconds in _DURATIONS:
        metrics.record_attempt("log", "success", seconds)
        metrics.record_http("POST", "/v1/dispatch", 200, seconds)
    metrics.record_attempt("webhook", "error", 0.2)
    metrics.record_http("GET", "/metrics", 404, 0.02)
    metrics.record_http("POST", "/v1/dispatch", 422, 0.001)
    for event_type in ("action_dispatched", "timeout", "action_dispatched"):
        metrics.record_event(event_type)
    metrics.stream_subscribers.inc()
    metrics.stream_lagged.inc(3)


def _feed_reference(ref: _Reference) -> None:
    for category in ("executed", "failed", "executed", "suppressed"):
        ref.dispatched.inc()
        ref.outcomes[category].inc()
    ref.dry_runs.inc()
    for seconds in _DURATIONS:
        ref.provider.labels("log", "success").inc()
        ref.provider_seconds.labels("log").observe(seconds)
        ref.http.labels("POST", "/v1/dispatch", "200").inc()
        ref.http_seconds.labels("POST", "/v1/dispatch").observe(seconds)
    ref.provider.labels("webhook", "error").inc()
    ref.provider_seconds.labels("webhook").observe(0.2)
    ref.http.labels("GET", "/metrics", "404").inc()
    ref.http_seconds.labels("GET", "/metrics").observe(0.02)
    ref.http.labels("POST", "/v1/dispatch", "422").inc()
    ref.http_seconds.labels("POST", "/v1/dispatch").observe(0.001)
    for event_type in ("action_dispatched", "timeout", "action_dispatched"):
        ref.events.labels(event_type).inc()
    ref.subscribers.inc()
    ref.lagged.inc(3)


_CREATED = re.compile(r"^(\S+_created(?:\{[^}]*\})?) \S+$", re.MULTILINE)


def _without_created_times(text: bytes) -> str:
    return _CREATED.sub(r"\1 T", text.decode())


def test_exposition_matches_prometheus_client() -> None:
    metrics, reference = Metrics(), _Reference()
    _feed(metrics)
    _feed_reference(reference)
    ours = _without_created_times(metrics.prometheus_text())
    assert ours == _without_created_times(generate_latest(reference.registry))
    assert (
        'tidegate_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/dispatch"} 4.0'
        in ours
    )


def test_fresh_exposition_matches_too() -> None:
    assert _without_created_times(Metrics().prometheus_text()) == _without_created_times(
        generate_latest(_Reference().registry)
    )


def test_snapshot_counts_in_spec_order() -> None:
    metrics = Metrics()
    _feed(metrics)
    snapshot = metrics.snapshot()
    assert list(snapshot) == ["dispatched", *OUTCOME_CATEGORIES, "dry_run"]
    assert (snapshot["dispatched"], snapshot["executed"], snapshot["failed"], snapshot["dry_run"]) == (
        4,
        2,
        1,
        1,
    )


def test_apps_do_not_share_counters() -> None:
    first, second = Metrics(), Metrics()
    first.record_outcome("executed")
    first.record_http("GET", "/health", 200, 0.001)
    assert second.snapshot()["dispatched"] == 0
    assert b'route="/health"' not in second.prometheus_text()


def test_a_stream_is_uncounted_once_however_often_its_close_hook_runs() -> None:
    metrics = Metrics()
    first, second = metrics.stream_opened(), metrics.stream_opened()
    assert b"tidegate_stream_subscribers 2.0" in metrics.prometheus_text()
    first()
    first()  # a close hook that ran twice
    assert b"tidegate_stream_subscribers 1.0" in metrics.prometheus_text()
    second()
    assert b"tidegate_stream_subscribers 0.0" in metrics.prometheus_text()
