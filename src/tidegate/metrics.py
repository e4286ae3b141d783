"""Process counters: the /metrics object (api.md §2) and the Prometheus families, kept in step.

One ``Metrics`` per app, each with its own CollectorRegistry, so several apps in one process (tests)
never share counters. Label children are bound once and cached: this sits on the dispatch hot path."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tidegate import __version__
from tidegate.model.outcome import OUTCOME_CATEGORIES

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self._counts: dict[str, int] = dict.fromkeys(OUTCOME_CATEGORIES, 0)
        self._dispatched = 0
        self._dry_runs = 0
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._p_dispatched = Counter(
            "tidegate_actions_dispatched", "Pipeline runs that produced an outcome.", registry=r
        )
        outcomes = Counter(
            "tidegate_action_outcomes", "Pipeline outcomes by category.", ["outcome"], registry=r
        )
        self._p_outcomes = {category: outcomes.labels(category) for category in OUTCOME_CATEGORIES}
        self._p_dry_runs = Counter("tidegate_dry_runs", "Dry-run evaluations.", registry=r)
        self._p_provider = Counter(
            "tidegate_provider_requests", "Provider attempts by result.", ["provider", "result"], registry=r
        )
        self._p_provider_seconds = Histogram(
            "tidegate_provider_request_duration_seconds",
            "Duration of each provider attempt.",
            ["provider"],
            registry=r,
        )
        self.stream_subscribers = Gauge(
            "tidegate_stream_subscribers", "Open SSE connections on this instance.", registry=r
        )
        self._p_stream_events = Counter(
            "tidegate_stream_events", "Events this instance appended to the event log.", ["type"], registry=r
        )
        self.stream_lagged = Counter(
            "tidegate_stream_lagged_events", "Events dropped for slow subscribers.", registry=r
        )
        self._p_http = Counter(
            "tidegate_http_requests", "HTTP requests.", ["method", "route", "status"], registry=r
        )
        self._p_http_seconds = Histogram(
            "tidegate_http_request_duration_seconds",
            "HTTP request duration.",
            ["method", "route"],
            registry=r,
        )
        Gauge("tidegate_build_info", "Build information.", ["version"], registry=r).labels(__version__).set(1)
        self._children: dict[tuple[str, ...], tuple[Counter, Histogram]] = {}

    def record_outcome(self, category: str) -> None:
        self._dispatched += 1
        self._counts[category] += 1
        self._p_dispatched.inc()
        self._p_outcomes[category].inc()

    def record_dry_run(self) -> None:
        self._dry_runs += 1
        self._p_dry_runs.inc()

    def record_attempt(self, provider: str, result: str, seconds: float) -> None:
        key = ("attempt", provider, result)
        pair = self._children.get(key)
        if pair is None:
            pair = (self._p_provider.labels(provider, result), self._p_provider_seconds.labels(provider))
            self._children[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)

    def record_event(self, event_type: str) -> None:
        self._p_stream_events.labels(event_type).inc()

    def record_http(self, method: str, route: str, status: int, seconds: float) -> None:
        key = ("http", method, route, str(status))
        pair = self._children.get(key)
        if pair is None:
            pair = (
                self._p_http.labels(method, route, str(status)),
                self._p_http_seconds.labels(method, route),
            )
            self._children[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)

    def snapshot(self) -> dict[str, int]:
        """The /metrics object: keys in the order of api.md §2; ``dispatched`` = sum of the 11 outcomes."""
        return {"dispatched": self._dispatched, **self._counts, "dry_run": self._dry_runs}

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)
