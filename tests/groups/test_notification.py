"""The group notification's payload and action (features.md §13), against the spec's own example."""

from __future__ import annotations

from datetime import UTC, datetime

from tidegate.groups import Flush, Group, GroupSettings, GroupState, Member, notification_action
from tidegate.groups.notification import notification_payload, notification_text
from tidegate.model.json import dumps

SPEC_PAYLOAD = (
    '{"group_id":"019c3882-7d00-7e00-8a00-000000000001","group_key":"36baeb5857298752c017abdefc0a3abf6501e72849a7b51e659bf4cd6e325546",'
    '"rule":"group-cluster-alerts","labels":{"metadata.cluster":"eu-1","metadata.severity":"high"},"event_count":1,'
    '"repeat":false,"flush_count":1,"flushed_at":"2026-02-07T14:31:00.000000Z",'
    '"text":"1 event grouped by metadata.cluster=eu-1, metadata.severity=high",'
    '"events":[{"action_id":"019c3882-7b00-7c21-8d4e-5f6a7b8c9d02","action_type":"cluster_cpu","provider":"slack",'
    '"fingerprint":null,"status":null,"payload":{"cpu":97},"received_at":"2026-02-07T14:30:00.000000Z"}]}'
)
RECEIVED = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)
FLUSHED = datetime(2026, 2, 7, 14, 31, tzinfo=UTC)
MEMBER = Member(
    "019c3882-7b00-7c21-8d4e-5f6a7b8c9d02", "cluster_cpu", "slack", None, None, {"cpu": 97}, RECEIVED
)


def spec_group(notify_provider: str | None = None) -> Group:
    return Group(
        group_id="019c3882-7d00-7e00-8a00-000000000001",
        group_key="36baeb5857298752c017abdefc0a3abf6501e72849a7b51e659bf4cd6e325546",
        namespace="alerts",
        tenant="acme",
        rule="group-cluster-alerts",
        labels={"metadata.cluster": "eu-1", "metadata.severity": "high"},
        provider="slack",
        settings=GroupSettings(60, 300, None, 50, notify_provider),
        state=GroupState.NOTIFIED,
        batch=(MEMBER,),
        notify_at=FLUSHED,
        created_at=RECEIVED,
        updated_at=FLUSHED,
        flush_count=1,
    )


FLUSH = Flush(FLUSHED, FLUSHED, 1, False, (MEMBER,))


def test_the_payload_is_the_spec_example_byte_for_byte() -> None:
    assert dumps(notification_payload(spec_group(), FLUSH)).decode() == SPEC_PAYLOAD


def test_the_text_counts_events_and_lists_labels_in_rule_order() -> None:
    assert notification_text(1, {"b": "2", "a": "1"}) == "1 event grouped by b=2, a=1"
    assert notification_text(5, {"metadata.cluster": ""}) == "5 events grouped by metadata.cluster="


def test_the_action_keeps_the_groups_scope_and_labels_its_id_and_key() -> None:
    action = notification_action(spec_group(), FLUSH, "n-1", FLUSHED)
    assert (action.namespace, action.tenant, action.action_type) == ("alerts", "acme", "group_notification")
    assert action.provider == "slack"  # no notify_provider: the first event's
    assert action.metadata == {
        "group_id": "019c3882-7d00-7e00-8a00-000000000001",
        "group_key": "36baeb5857298752c017abdefc0a3abf6501e72849a7b51e659bf4cd6e325546",
    }
    assert (action.id, action.created_at) == ("n-1", FLUSHED)
    assert notification_action(spec_group("pager"), FLUSH, "n-2", FLUSHED).provider == "pager"


def test_a_reminder_says_repeat() -> None:
    reminder = Flush(FLUSHED, FLUSHED, 3, True, (MEMBER,))
    payload = notification_payload(spec_group(), reminder)
    assert (payload["repeat"], payload["flush_count"]) == (True, 3)
