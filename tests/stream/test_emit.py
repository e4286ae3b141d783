"""new_event: field order and presence rules of stream.md §1.3-§1.5."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pytest

from tidegate.model.event import EventType
from tidegate.model.ids import is_uuid
from tidegate.model.json import JsonValue
from tidegate.stream.emit import EVENT_FIELDS, new_event

AT = datetime(2026, 2, 7, 14, 30, 5, tzinfo=UTC)
GROUP = "019c3882-7d00-7e00-8a00-000000000001"
KEY = "36baeb5857298752c017abdefc0a3abf6501e72849a7b51e659bf4cd6e325546"
CHAIN = "019c3882-7e00-7f00-9b00-000000000002"
APPROVAL = "6f1c2e9a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
ACTION = "019c3882-7b00-7c21-8d4e-5f6a7b8c9d01"

# (type, namespace, tenant, fields given in a shuffled order, action_type, action_id, expected data line)
EXAMPLES: list[tuple[EventType, str, str, dict[str, JsonValue | datetime], str | None, str | None, str]] = [
    (
        EventType.GROUP_FLUSHED,
        "alerts",
        "acme",
        {"event_count": 5, "group_id": GROUP},
        None,
        None,
        f'{{"type":"group_flushed","group_id":"{GROUP}","event_count":5,"namespace":"alerts","tenant":"acme"}}',
    ),
    (
        EventType.TIMEOUT,
        "monitoring",
        "tenant-1",
        {"new_state": "stale", "previous_state": "firing", "state_machine": "alert", "fingerprint": "f"},
        "cpu_alert",
        None,
        '{"type":"timeout","fingerprint":"f","state_machine":"alert","previous_state":"firing",'
        '"new_state":"stale","namespace":"monitoring","tenant":"tenant-1","action_type":"cpu_alert"}',
    ),
    (
        EventType.CHAIN_ADVANCED,
        "research",
        "acme",
        {
            "attempt": 1,
            "step_status": "completed",
            "step_index": 0,
            "step_name": "search",
            "chain_name": "search-summarize-email",
            "chain_id": CHAIN,
        },
        None,
        None,
        f'{{"type":"chain_advanced","chain_id":"{CHAIN}","chain_name":"search-summarize-email",'
        '"step_name":"search","step_index":0,"step_status":"completed","attempt":1,'
        '"namespace":"research","tenant":"acme"}',
    ),
    (
        EventType.APPROVAL_REQUIRED,
        "payments",
        "acme",
        {
            "expires_at": datetime(2026, 2, 7, 15, 30, tzinfo=UTC),
            "rule": "approve-large-refunds",
            "approval_id": APPROVAL,
        },
        "process_refund",
        ACTION,
        f'{{"type":"approval_required","approval_id":"{APPROVAL}","rule":"approve-large-refunds",'
        '"expires_at":"2026-02-07T15:30:00.000000Z","namespace":"payments","tenant":"acme",'
        f'"action_type":"process_refund","action_id":"{ACTION}"}}',
    ),
    (
        EventType.GROUP_EVENT_ADDED,
        "alerts",
        "acme",
        {"event_count": 3, "group_key": KEY, "group_id": GROUP},
        "cluster_cpu",
        ACTION,
        f'{{"type":"group_event_added","group_id":"{GROUP}","group_key":"{KEY}","event_count":3,'
        f'"namespace":"alerts","tenant":"acme","action_type":"cluster_cpu","action_id":"{ACTION}"}}',
    ),
    (
        EventType.ACTION_STATUS_CHANGED,
        "monitoring",
        "tenant-1",
        {
            "new_status": "acknowledged",
            "previous_status": "firing",
            "state_machine": "alert",
            "fingerprint": "f",
        },
        "cpu_alert",
        ACTION,
        '{"type":"action_status_changed","fingerprint":"f","state_machine":"alert",'
        '"previous_status":"firing","new_status":"acknowledged","namespace":"monitoring",'
        f'"tenant":"tenant-1","action_type":"cpu_alert","action_id":"{ACTION}"}}',
    ),
    (
        EventType.APPROVAL_RESOLVED,
        "payments",
        "acme",
        {"decision": "approved", "approval_id": APPROVAL},
        "process_refund",
        ACTION,
        f'{{"type":"approval_resolved","approval_id":"{APPROVAL}","decision":"approved",'
        f'"namespace":"payments","tenant":"acme","action_type":"process_refund","action_id":"{ACTION}"}}',
    ),
    (
        EventType.CHAIN_STEP_COMPLETED,
        "research",
        "acme",
        {"next_step": None, "success": True, "step_index": 2, "step_name": "email", "chain_id": CHAIN},
        None,
        None,
        f'{{"type":"chain_step_completed","chain_id":"{CHAIN}","step_name":"email","step_index":2,'
        '"success":true,"next_step":null,"namespace":"research","tenant":"acme"}',
    ),
    (
        EventType.CHAIN_COMPLETED,
        "research",
        "acme",
        {"execution_path": ["search", "summarize", "email"], "status": "completed", "chain_id": CHAIN},
        None,
        None,
        f'{{"type":"chain_completed","chain_id":"{CHAIN}","status":"completed",'
        '"execution_path":["search","summarize","email"],"namespace":"research","tenant":"acme"}',
    ),
]


@pytest.mark.parametrize("example", EXAMPLES, ids=[example[0].value for example in EXAMPLES])
def test_new_event_matches_the_spec_examples(
    example: tuple[EventType, str, str, dict[str, JsonValue | datetime], str | None, str | None, str],
) -> None:
    kind, namespace, tenant, fields, action_type, action_id, tail = example
    event = new_event(
        kind,
        namespace=namespace,
        tenant=tenant,
        fields=fields,
        now=AT,
        action_type=action_type,
        action_id=action_id,
    )
    assert is_uuid(event.id)
    assert event.timestamp == AT
    head = '{"id":"X","timestamp":"2026-02-07T14:30:05.000000Z",'
    assert orjson.dumps(replace(event, id="X").to_json()).decode() == head + tail[1:]


def test_ids_are_new_and_increasing() -> None:
    fields: dict[str, JsonValue | datetime] = {"group_id": "g", "event_count": 1}
    ids = [
        new_event(EventType.GROUP_FLUSHED, namespace="n", tenant="t", fields=fields, now=AT).id
        for _ in range(50)
    ]
    assert ids == sorted(ids) and len(set(ids)) == 50


def test_action_dispatched_is_in_the_table() -> None:
    assert EVENT_FIELDS[EventType.ACTION_DISPATCHED] == ("outcome", "provider")
    assert set(EVENT_FIELDS) == set(EventType)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"group_id": "g"}, "missing ['event_count']"),
        ({"group_id": "g", "event_count": 1, "extra": 1}, "unexpected ['extra']"),
    ],
)
def test_fields_must_be_exactly_the_types_own(fields: dict[str, JsonValue | datetime], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        new_event(EventType.GROUP_FLUSHED, namespace="n", tenant="t", fields=fields, now=AT)


@pytest.mark.parametrize(
    ("kind", "fields", "action_type", "action_id", "message"),
    [
        (EventType.GROUP_FLUSHED, {"group_id": "g", "event_count": 1}, "x", None, "have no action_type"),
        (EventType.GROUP_FLUSHED, {"group_id": "g", "event_count": 1}, None, "a", "have no action_id"),
        (
            EventType.TIMEOUT,
            {"fingerprint": "f", "state_machine": "s", "previous_state": "a", "new_state": "b"},
            "x",
            "a",
            "have no action_id",
        ),
        (
            EventType.APPROVAL_RESOLVED,
            {"approval_id": "a", "decision": "approved"},
            "x",
            None,
            "need action_id",
        ),
        (
            EventType.APPROVAL_RESOLVED,
            {"approval_id": "a", "decision": "approved"},
            None,
            "a",
            "need action_type",
        ),
    ],
)
def test_action_type_and_id_presence_rules(
    kind: EventType,
    fields: dict[str, JsonValue | datetime],
    action_type: str | None,
    action_id: str | None,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        new_event(
            kind,
            namespace="n",
            tenant="t",
            fields=fields,
            now=AT,
            action_type=action_type,
            action_id=action_id,
        )


def test_optional_scope_accepts_both_forms() -> None:
    fields: dict[str, JsonValue | datetime] = {
        "fingerprint": "f",
        "state_machine": "s",
        "previous_status": "a",
        "new_status": "b",
    }
    bare = new_event(EventType.ACTION_STATUS_CHANGED, namespace="n", tenant="t", fields=fields, now=AT)
    assert "action_type" not in bare.to_json() and "action_id" not in bare.to_json()
    full = new_event(
        EventType.ACTION_STATUS_CHANGED,
        namespace="n",
        tenant="t",
        fields=fields,
        now=AT,
        action_type="x",
        action_id="a",
    )
    assert (full.action_type, full.action_id) == ("x", "a")
