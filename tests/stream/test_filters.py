"""Query filters of /v1/stream (stream.md §1.1) and isolation (§1.7)."""

from __future__ import annotations

import pytest

from tests.stream._events import dispatched, make_event
from tidegate.errors import InvalidInput
from tidegate.model.caller import ANONYMOUS, AuthMethod, Caller, Grant, Role
from tidegate.model.event import EventType
from tidegate.model.json import JsonValue
from tidegate.stream.filters import InvalidFilter, StreamFilter, outcome_category, visible

OUTCOMES: dict[str, JsonValue] = {
    "executed": {"Executed": {"status": "success", "body": None, "headers": {}}},
    "deduplicated": "Deduplicated",
    "suppressed": {"Suppressed": {"rule": "block-spam"}},
    "rerouted": {"Rerouted": {"original_provider": "email", "new_provider": "sms", "response": {}}},
    "throttled": {"Throttled": {"retry_after": {"secs": 42, "nanos": 0}}},
    "failed": {"Failed": {"code": "connection", "message": "x", "retryable": True, "attempts": 4}},
    "grouped": {"Grouped": {"group_id": "g", "group_key": "k", "group_size": 3, "notify_at": "t"}},
    "state_changed": {"StateChanged": {"fingerprint": "f"}},
    "pending_approval": {"PendingApproval": {"approval_id": "a"}},
    "chain_started": {"ChainStarted": {"chain_id": "c"}},
    "circuit_open": {"CircuitOpen": {"provider": "email", "fallback_chain": ["sms"]}},
}


def parse(query: str) -> StreamFilter:
    pairs = [tuple(part.split("=", 1)) for part in query.split("&") if part]
    return StreamFilter.parse((name, value) for name, value in pairs)


def test_no_parameters_is_the_empty_filter() -> None:
    assert parse("") == StreamFilter()
    assert StreamFilter().is_empty
    assert StreamFilter().matches(make_event())


def test_every_parameter_is_parsed() -> None:
    parsed = parse(
        "namespace=alerts&action_type=send_email&outcome=executed&event_type=action_dispatched"
        "&tenant=acme.eu&chain_id=c-1&group_id=g 1&action_id=a:1"
    )
    assert parsed == StreamFilter(
        namespace="alerts",
        action_type="send_email",
        outcome="executed",
        event_type=EventType.ACTION_DISPATCHED,
        tenant="acme.eu",
        chain_id="c-1",
        group_id="g 1",
        action_id="a:1",
    )
    assert not parsed.is_empty


def test_empty_values_are_absent_and_unknown_names_ignored() -> None:
    assert parse("namespace=&outcome=&event_type=&tenant=&chain_id=&foo=bar&foo=baz") == StreamFilter()
    assert parse("last_event_id=x&namespace=a") == StreamFilter(namespace="a")


@pytest.mark.parametrize("value", list(OUTCOMES))
def test_every_outcome_category_is_accepted(value: str) -> None:
    assert parse(f"outcome={value}").outcome == value


@pytest.mark.parametrize("kind", list(EventType))
def test_every_event_type_is_accepted(kind: EventType) -> None:
    assert parse(f"event_type={kind.value}").event_type is kind


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("outcome=dry_run", "outcome"),
        ("outcome=Executed", "outcome"),
        ("outcome=bogus", "outcome"),
        ("event_type=lagged", "event_type"),
        ("event_type=ACTION_DISPATCHED", "event_type"),
        ("event_type=group_resolved", "event_type"),
        ("namespace=has space", "namespace"),
        ("namespace=a/b", "namespace"),
        ("action_type=é", "action_type"),
        ("tenant=acme\n", "tenant"),
        (f"tenant={'a' * 257}", "tenant"),
        ("namespace=a&namespace=a", "namespace"),
        ("namespace=&namespace=b", "namespace"),
        ("chain_id=1&chain_id=2", "chain_id"),
        ("action_id=1&tenant=t&action_id=1", "action_id"),
    ],
)
def test_invalid_filters(query: str, name: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        parse(query)
    assert caught.value.code == "invalid_filter"
    assert isinstance(caught.value, InvalidInput)
    assert f"'{name}'" in caught.value.message


def test_identifier_limits() -> None:
    assert parse(f"tenant={'a' * 256}").tenant == "a" * 256
    assert parse("namespace=A-z_0.9:x").namespace == "A-z_0.9:x"
    assert parse("chain_id=any thing/at all").chain_id == "any thing/at all"  # a string, not an identifier


@pytest.mark.parametrize(("category", "outcome"), list(OUTCOMES.items()))
def test_outcome_category_comes_from_the_tag(category: str, outcome: JsonValue) -> None:
    event = dispatched(outcome)
    assert outcome_category(event) == category
    assert StreamFilter(outcome=category).matches(event)
    other = "failed" if category != "failed" else "executed"
    assert not StreamFilter(outcome=other).matches(event)


def test_outcome_filter_drops_every_other_event_type() -> None:
    assert not StreamFilter(outcome="executed").matches(
        make_event(EventType.GROUP_FLUSHED, fields={"outcome": OUTCOMES["executed"]})
    )
    assert outcome_category(dispatched({"A": 1, "B": 2})) is None
    assert outcome_category(dispatched(None)) is None


def test_scalar_filters() -> None:
    event = make_event(
        EventType.GROUP_EVENT_ADDED,
        tenant="acme.eu",
        namespace="alerts",
        action_type="cpu",
        action_id="a1",
        fields={"group_id": "g1", "group_key": "k", "event_count": 1},
    )
    assert StreamFilter(namespace="alerts").matches(event)
    assert not StreamFilter(namespace="billing").matches(event)
    assert StreamFilter(tenant="acme.eu").matches(event)
    assert not StreamFilter(tenant="acme").matches(event)  # the filter is exact; isolation is hierarchical
    assert StreamFilter(event_type=EventType.GROUP_EVENT_ADDED).matches(event)
    assert not StreamFilter(event_type=EventType.GROUP_FLUSHED).matches(event)
    assert StreamFilter(action_type="cpu").matches(event)
    assert not StreamFilter(action_type="mem").matches(event)
    assert StreamFilter(action_id="a1").matches(event)
    assert not StreamFilter(action_id="a2").matches(event)
    assert StreamFilter(group_id="g1").matches(event)
    assert not StreamFilter(group_id="g2").matches(event)


def test_events_without_action_type_or_id_are_dropped_by_those_filters() -> None:
    event = make_event(EventType.GROUP_FLUSHED)
    assert not StreamFilter(action_type="cpu").matches(event)
    assert not StreamFilter(action_id="a1").matches(event)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (EventType.CHAIN_ADVANCED, True),
        (EventType.CHAIN_STEP_COMPLETED, True),
        (EventType.CHAIN_COMPLETED, True),
        (EventType.ACTION_DISPATCHED, False),  # even with a chain_id field
        (EventType.GROUP_FLUSHED, False),
    ],
)
def test_chain_id_filter(kind: EventType, expected: bool) -> None:
    event = make_event(kind, fields={"chain_id": "c1", "group_id": "c1"})
    assert StreamFilter(chain_id="c1").matches(event) is expected
    assert not StreamFilter(chain_id="c2").matches(event)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (EventType.GROUP_EVENT_ADDED, True),
        (EventType.GROUP_FLUSHED, True),
        (EventType.CHAIN_ADVANCED, False),
        (EventType.ACTION_DISPATCHED, False),
    ],
)
def test_group_id_filter(kind: EventType, expected: bool) -> None:
    event = make_event(kind, fields={"group_id": "g1", "chain_id": "g1"})
    assert StreamFilter(group_id="g1").matches(event) is expected
    assert not StreamFilter(group_id="g2").matches(event)


def test_filters_are_anded() -> None:
    event = dispatched(OUTCOMES["executed"], namespace="alerts", tenant="acme", action_type="send")
    both = StreamFilter(namespace="alerts", outcome="executed")
    assert both.matches(event)
    assert not StreamFilter(namespace="alerts", outcome="failed").matches(event)
    assert not StreamFilter(namespace="billing", outcome="executed").matches(event)


def scoped(*grants: Grant) -> Caller:
    return Caller("c", AuthMethod.JWT, Role.VIEWER, grants)


@pytest.mark.parametrize(
    ("grants", "tenant", "namespace", "expected"),
    [
        ((Grant(tenants=("acme",)),), "acme", "alerts", True),
        ((Grant(tenants=("acme",)),), "acme.eu", "alerts", True),
        ((Grant(tenants=("acme",)),), "acmecorp", "alerts", False),
        ((Grant(tenants=("acme.eu",)),), "acme", "alerts", False),
        ((Grant(tenants=("acme",), namespaces=("alerts",)),), "acme.eu", "billing", False),
        ((Grant(tenants=("acme",), providers=("sms",)),), "acme", "billing", True),
        (
            (Grant(tenants=("a",), namespaces=("x",)), Grant(tenants=("b",), namespaces=("y",))),
            "a",
            "y",
            False,
        ),
        ((), "acme", "alerts", False),
    ],
)
def test_visible_is_isolation_by_covers(
    grants: tuple[Grant, ...], tenant: str, namespace: str, expected: bool
) -> None:
    assert visible(scoped(*grants), make_event(tenant=tenant, namespace=namespace)) is expected


def test_wildcard_caller_sees_every_tenant() -> None:
    assert visible(ANONYMOUS, make_event(tenant="any.tenant", namespace="any"))
