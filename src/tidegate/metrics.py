"""Process counters: the /metrics object (api.md §2) and the Prometheus families, kept in step.

The dispatch hot path only adds to plain ints and lists (no lock, no label lookup in prometheus_client:
those cost several µs per dispatch). The Prometheus families are built from them when scraped, by one
collector that emits the samples prometheus_client's own Counter and Histogram would (``_total``,
``_created``, cumulative ``_bucket``, ``_count``, ``_sum``), in the same family order. The families off
the hot path (``stream_subscribers``, ``stream_lagged``, build info) stay prometheus_client objects.

One ``Metrics`` per app, each with its own CollectorRegistry, so several apps in one process (tests)
never share counters. Everything is updated from the event loop thread only."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from tidegate import __version__
from tidegate.model.outcome import OUTCOME_CATEGORIES

__all__ = ["DURATION_BUCKETS", "Metrics"]

#: prometheus_client's default histogram buckets (``Histogram.DEFAULT_BUCKETS``), +Inf last.
DURATION_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    float("inf"),
)
#: The ``le`` label values, as prometheus_client writes these bounds (``floatToGoString``).
_BUCKET_LABELS = tuple("+Inf" if bound == float("inf") else repr(bound) for bound in DURATION_BUCKETS)


class _Count:
    """One labelled counter child; ``created`` is when its labels were first seen, as in prometheus_client."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0
        self.created = time.time()


class _Histogram:
    """One labelled histogram child: per-bucket (not cumulative) counts and the sum."""

    __slots__ = ("buckets", "created", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * len(DURATION_BUCKETS)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, seconds: float) -> None:
        # The first bound >= seconds, as prometheus_client's ``amount <= bound`` scan; clamped for NaN.
        self.buckets[min(bisect_left(DURATION_BUCKETS, seconds), len(DURATION_BUCKETS) - 1)] += 1
        self.sum += seconds


_Labels = tuple[str, ...]


class _CounterFamily:
    __slots__ = ("children", "doc", "labelnames", "name")

    def __init__(self, name: str, doc: str, labelnames: _Labels) -> None:
        self.name, self.doc, self.labelnames = name, doc, labelnames
        self.children: dict[_Labels, _Count] = {}

    def child(self, labels: _Labels) -> _Count:
        found = self.children.get(labels)
        if found is None:
            found = self.children[labels] = _Count()
        return found

    def collect(self) -> Metric:
        metric = Metric(self.name, self.doc, "counter")
        items = list(self.children.items())
        for labels, count in items:
            metric.add_sample(
                f"{self.name}_total", dict(zip(self.labelnames, labels, strict=True)), count.value
            )
        for labels, count in items:
            metric.add_sample(
                f"{self.name}_created", dict(zip(self.labelnames, labels, strict=True)), count.created
            )
        return metric


class _HistogramFamily:
    __slots__ = ("children", "doc", "labelnames", "name")

    def __init__(self, name: str, doc: str, labelnames: _Labels) -> None:
        self.name, self.doc, self.labelnames = name, doc, labelnames
        self.children: dict[_Labels, _Histogram] = {}

    def child(self, labels: _Labels) -> _Histogram:
        found = self.children.get(labels)
        if found is None:
            found = self.children[labels] = _Histogram()
        return found

    def collect(self) -> Metric:
        metric = Metric(self.name, self.doc, "histogram")
        name = self.name
        for labels, histogram in list(self.children.items()):
            base = dict(zip(self.labelnames, labels, strict=True))
            total = 0
            for bound, count in zip(_BUCKET_LABELS, histogram.buckets, strict=True):
                total += count
                metric.add_sample(f"{name}_bucket", {**base, "le": bound}, total)
            metric.add_sample(f"{name}_count", base, total)
            metric.add_sample(f"{name}_sum", base, histogram.sum)
            metric.add_sample(f"{name}_created", base, histogram.created)
        return metric


class _Families(Collector):
    """Every family of the registry, in a fixed order; hot ones built from the plain counters."""

    def __init__(self, parts: tuple[_CounterFamily | _HistogramFamily | Counter | Gauge, ...]) -> None:
        self._parts = parts

    def collect(self) -> Iterator[Metric]:
        for part in self._parts:
            if isinstance(part, (_CounterFamily, _HistogramFamily)):
                yield part.collect()
            else:
                yield from part.collect()


class Metrics:
    def __init__(self) -> None:
        self._counts: dict[str, int] = dict.fromkeys(OUTCOME_CATEGORIES, 0)
        self._dispatched = 0
        self._dry_runs = 0
        self._p_dispatched = _CounterFamily(
            "tidegate_actions_dispatched", "Pipeline runs that produced an outcome.", ()
        )
        self._dispatched_child = self._p_dispatched.child(())
        self._p_outcomes = _CounterFamily(
            "tidegate_action_outcomes", "Pipeline outcomes by category.", ("outcome",)
        )
        for category in OUTCOME_CATEGORIES:
            self._p_outcomes.child((category,))
        self._p_dry_runs = _CounterFamily("tidegate_dry_runs", "Dry-run evaluations.", ())
        self._p_dry_runs.child(())
        self._p_provider = _CounterFamily(
            "tidegate_provider_requests", "Provider attempts by result.", ("provider", "result")
        )
        self._p_provider_seconds = _HistogramFamily(
            "tidegate_provider_request_duration_seconds", "Duration of each provider attempt.", ("provider",)
        )
        self.stream_subscribers = Gauge(
            "tidegate_stream_subscribers", "Open SSE connections on this instance.", registry=None
        )
        self._p_stream_events = _CounterFamily(
            "tidegate_stream_events", "Events this instance appended to the event log.", ("type",)
        )
        self.stream_lagged = Counter(
            "tidegate_stream_lagged_events", "Events dropped for slow subscribers.", registry=None
        )
        self._p_http = _CounterFamily(
            "tidegate_http_requests", "HTTP requests.", ("method", "route", "status")
        )
        self._p_http_seconds = _HistogramFamily(
            "tidegate_http_request_duration_seconds", "HTTP request duration.", ("method", "route")
        )
        build_info = Gauge("tidegate_build_info", "Build information.", ["version"], registry=None)
        build_info.labels(__version__).set(1)
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(
            _Families(
                (
                    self._p_dispatched,
                    self._p_outcomes,
                    self._p_dry_runs,
                    self._p_provider,
                    self._p_provider_seconds,
                    self.stream_subscribers,
                    self._p_stream_events,
                    self.stream_lagged,
                    self._p_http,
                    self._p_http_seconds,
                    build_info,
                )
            )
        )
        self._attempts: dict[tuple[str, str], tuple[_Count, _Histogram]] = {}
        self._http: dict[tuple[str, str, int], tuple[_Count, _Histogram]] = {}
        self._events: dict[str, _Count] = {}
        self._breaker_states: Gauge | None = None

    def set_breaker_states(self, states: Mapping[str, int]) -> None:
        """``tidegate_circuit_breaker_state`` (api.md §2), registered on first use: only with breakers on."""
        if self._breaker_states is None:
            self._breaker_states = Gauge(
                "tidegate_circuit_breaker_state",
                "Circuit breaker state: 0 closed, 1 half_open, 2 open.",
                ["provider"],
                registry=self.registry,
            )
        for provider, value in states.items():
            self._breaker_states.labels(provider).set(value)

    def stream_opened(self) -> Callable[[], None]:
        """Count one open SSE connection in ``tidegate_stream_subscribers`` (every SSE endpoint, api.md §2).

        Returns the uncount, for the stream's close hook; it acts once however often it is called, so a
        hook that runs twice never drives the gauge below the open connections."""
        self.stream_subscribers.inc()
        open_ = [True]

        def closed() -> None:
            if open_:
                open_.clear()
                self.stream_subscribers.dec()

        return closed

    def record_outcome(self, category: str) -> None:
        self._dispatched += 1
        self._counts[category] += 1

    def record_dry_run(self) -> None:
        self._dry_runs += 1

    def record_attempt(self, provider: str, result: str, seconds: float) -> None:
        pair = self._attempts.get((provider, result))
        if pair is None:
            pair = (self._p_provider.child((provider, result)), self._p_provider_seconds.child((provider,)))
            self._attempts[(provider, result)] = pair
        pair[0].value += 1
        pair[1].observe(seconds)

    def record_event(self, event_type: str) -> None:
        count = self._events.get(event_type)
        if count is None:
            count = self._events[event_type] = self._p_stream_events.child((event_type,))
        count.value += 1

    def record_http(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        pair = self._http.get(key)
        if pair is None:
            pair = (
                self._p_http.child((method, route, str(status))),
                self._p_http_seconds.child((method, route)),
            )
            self._http[key] = pair
        pair[0].value += 1
        pair[1].observe(seconds)

    def snapshot(self) -> dict[str, int]:
        """The /metrics object: keys in the order of api.md §2; ``dispatched`` = sum of the 11 outcomes."""
        return {"dispatched": self._dispatched, **self._counts, "dry_run": self._dry_runs}

    def prometheus_text(self) -> bytes:
        self._sync_counters()
        return generate_latest(self.registry)

    def _sync_counters(self) -> None:
        """Copy the /metrics ints into their Prometheus children (kept once, not twice, on the hot path)."""
        self._dispatched_child.value = self._dispatched
        for category, value in self._counts.items():
            self._p_outcomes.children[(category,)].value = value
        self._p_dry_runs.children[()].value = self._dry_runs
