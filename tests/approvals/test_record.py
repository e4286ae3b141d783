"""The approval record (api.md §7): the check order of ``gate``, the API object, the stored form."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from tidegate.approvals.record import Approval, ApprovalStatus, Decision, Gate, action_from_json, gate
from tidegate.model.action import Action

CREATED = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)
EXPIRES = CREATED + timedelta(hours=1)

ACTION = Action(
    id="019c3882-7b00-7c21-8d4e-5f6a7b8c9d01",
    namespace="payments",
    tenant="acme",
    provider="payments-api",
    action_type="process_refund",
    payload={"amount": 1500, "tracked": True},
    dedup_key="r-1",
    metadata={"priority": "high"},
    status="firing",
    fingerprint="fp",
    starts_at=CREATED,
    ends_at=None,
    created_at=CREATED,
    trace_context={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
)


def approval(**changes: object) -> Approval:
    base = Approval(
        approval_id="6f1c2e9a-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
        action=ACTION,
        rule="approve-large-refunds",
        message="Refund over $1000 requires manager approval",
        created_at=CREATED,
        expires_at=EXPIRES,
        requested_by="ci-deployer",
        notify_provider="email",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "now", "expected"),
    [
        (ApprovalStatus.PENDING, EXPIRES - timedelta(microseconds=1), Gate.OPEN),
        (ApprovalStatus.PENDING, EXPIRES, Gate.LAPSED),
        (ApprovalStatus.PENDING, EXPIRES + timedelta(days=1), Gate.LAPSED),
        (ApprovalStatus.EXPIRED, CREATED, Gate.EXPIRED),
        (ApprovalStatus.APPROVED, CREATED, Gate.DECIDED),
        # A decided approval reports its decision even once its link has expired (check 3 before 4).
        (ApprovalStatus.APPROVED, EXPIRES + timedelta(days=1), Gate.DECIDED),
        (ApprovalStatus.REJECTED, EXPIRES + timedelta(days=1), Gate.DECIDED),
    ],
)
def test_gate_follows_the_check_order(status: ApprovalStatus, now: datetime, expected: Gate) -> None:
    assert gate(approval(status=status), now) is expected


def test_the_api_object_is_the_spec_example_and_holds_no_secrets() -> None:
    assert approval(notification_sent=True).to_json() == {
        "approval_id": "6f1c2e9a-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
        "namespace": "payments",
        "tenant": "acme",
        "action_id": "019c3882-7b00-7c21-8d4e-5f6a7b8c9d01",
        "action_type": "process_refund",
        "provider": "payments-api",
        "rule": "approve-large-refunds",
        "message": "Refund over $1000 requires manager approval",
        "status": "pending",
        "notification_sent": True,
        "created_at": "2026-02-07T14:30:00.000000Z",
        "expires_at": "2026-02-07T15:30:00.000000Z",
        "decided_at": None,
        "decided_by": None,
    }


def test_decisions_and_expiry() -> None:
    now = CREATED + timedelta(minutes=5)
    decided = approval().decided(Decision.APPROVE, now, "link")
    assert (decided.status, decided.decided_at, decided.decided_by) == (ApprovalStatus.APPROVED, now, "link")
    rejected = approval().decided(Decision.REJECT, now, "alice")
    assert rejected.status is ApprovalStatus.REJECTED
    expired = approval().expired()
    assert (expired.status, expired.decided_at, expired.decided_by) == (ApprovalStatus.EXPIRED, None, None)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"received_payload": {"amount": 1500}, "payload_modified": True},
        {"received_payload": None, "payload_modified": True},  # a null payload as received is kept
        {"status": ApprovalStatus.APPROVED, "decided_at": EXPIRES, "decided_by": "link", "outcome": {"a": 1}},
        {"message": None, "notification_sent": True},
    ],
)
def test_the_stored_form_round_trips(changes: dict[str, object]) -> None:
    original = approval(**changes)
    assert Approval.decode(original.encode()) == original


def test_the_audit_sees_the_payload_as_received() -> None:
    patched = approval(received_payload={"amount": 1500}, payload_modified=True)
    assert patched.received.payload == {"amount": 1500}
    assert patched.action.payload == {"amount": 1500, "tracked": True}
    assert approval().received is ACTION


def test_action_from_json_inverts_to_json() -> None:
    assert action_from_json(ACTION.to_json()) == ACTION
