"""Approvals in-process (features.md §15, api.md §7): hold, notify, decide once, expire, resume the
pipeline after the approval rule, with audit records, events and counters as the spec orders them."""

from __future__ import annotations

import asyncio

import pytest

from tidegate.approvals import (
    ApprovalRef,
    ApprovalStatus,
    Decision,
    DecisionResult,
    Link,
    LinkKeys,
    SigningKey,
)
from tidegate.approvals.service import NOTIFICATION_TIMERS
from tidegate.audit.base import AuditQuery
from tidegate.clock import ManualClock
from tidegate.config import ApprovalsSettings
from tidegate.errors import ApprovalDecided, ApprovalExpired, InvalidSignature, NotFound, ProviderNotFound
from tidegate.model.caller import ANONYMOUS, AuthMethod, Caller, Grant, Role
from tidegate.model.outcome import PendingApproval
from tidegate.model.time import format_ts, from_unix
from tidegate.providers.base import ProviderError
from tidegate.store import keys
from tidegate.store.memory import MemoryStateStore

from ._world import BASE_URL, KEY, START, World, action, link_of, world

NOTIFICATION_KEYS = (
    "approval_id",
    "action_id",
    "namespace",
    "tenant",
    "action_type",
    "provider",
    "rule",
    "message",
    "expires_at",
    "approve_url",
    "reject_url",
    "subject",
    "text",
)

RULES = """
rules:
  - name: tag
    priority: 0
    condition: {field: action.action_type, eq: refund}
    action: {type: modify, changes: {tracked: true}}
  - name: approve-refunds
    priority: 1
    condition: {field: action.action_type, eq: refund}
    action: {type: request_approval, notify_provider: mail, timeout_seconds: 3600, message: "Check <it>"}
  - name: refunds-to-pager
    priority: 2
    condition: {field: action.action_type, eq: refund}
    action: {type: reroute, target_provider: pager}
"""


async def pending(w: World, **overrides: object) -> PendingApproval:
    result = await w.gateway.dispatch(action(**overrides), ANONYMOUS)
    assert isinstance(result.outcome, PendingApproval), result.outcome
    return result.outcome


def ref_of(outcome: PendingApproval) -> ApprovalRef:
    return ApprovalRef("payments", "acme", outcome.approval_id)


async def approve(
    w: World, outcome: PendingApproval, decision: Decision = Decision.APPROVE
) -> DecisionResult:
    return await w.approvals.decide(ref_of(outcome), decision, link=link_of(outcome.approve_url), caller=None)


async def test_a_request_holds_the_action_signs_links_and_notifies() -> None:
    w = await world(RULES)
    outcome = await pending(w)
    assert outcome.expires_at == from_unix(int(START.timestamp()) + 3600)  # truncated to whole seconds
    expires = int(outcome.expires_at.timestamp())
    base = f"{BASE_URL}/v1/approvals/payments/acme/{outcome.approval_id}"
    assert outcome.approve_url.startswith(f"{base}/approve?sig=")
    assert outcome.approve_url.endswith(f"&expires_at={expires}&kid=k1")
    assert outcome.reject_url == outcome.approve_url.replace("/approve?", "/reject?")
    assert outcome.notification_sent is True
    assert w.providers["email"].calls == [] and w.providers["pager"].calls == []
    [note] = w.providers["mail"].calls
    assert (note.provider, note.action_type, note.namespace, note.tenant) == (
        "mail",
        "approval_notification",
        "payments",
        "acme",
    )
    assert note.payload == {
        "approval_id": outcome.approval_id,
        "action_id": "a-1",
        "namespace": "payments",
        "tenant": "acme",
        "action_type": "refund",
        "provider": "email",
        "rule": "approve-refunds",
        "message": "Check <it>",
        "expires_at": format_ts(outcome.expires_at),
        "approve_url": outcome.approve_url,
        "reject_url": outcome.reject_url,
        "subject": "Approval required: refund",
        "text": f"Check <it>\nApprove: {outcome.approve_url}\nReject: {outcome.reject_url}",
    }
    assert list(note.payload) == list(NOTIFICATION_KEYS)  # type: ignore[arg-type]
    view = await w.approvals.view(ref_of(outcome), link_of(outcome.approve_url))
    assert view.status is ApprovalStatus.PENDING and view.notification_sent is True
    assert view.action.payload == {"amount": 1500, "tracked": True}  # held as the approval rule saw it
    [required, dispatched] = w.events.retained()
    assert (required.type.value, dispatched.type.value) == ("approval_required", "action_dispatched")
    assert required.to_json()["approval_id"] == outcome.approval_id
    assert "sig=" not in str(required.to_json()) and "sig=" not in str(dispatched.to_json())
    assert dispatched.fields["outcome"]["PendingApproval"]["approve_url"] == "[redacted]"  # type: ignore[index]
    [record] = (await w.audit.query(AuditQuery())).records
    assert (record.verdict, record.matched_rule, record.outcome) == (
        "request_approval",
        "approve-refunds",
        "pending_approval",
    )
    assert "approve_url" not in record.outcome_details
    assert w.metrics.snapshot()["pending_approval"] == 1


async def test_approving_resumes_after_the_approval_rule_and_records_the_run() -> None:
    w = await world(RULES)
    outcome = await pending(w)
    result = await approve(w, outcome)
    body = result.to_json()
    assert body["status"] == "approved" and body["decided_by"] == "link"
    assert body["outcome"]["outcome"] == "rerouted"  # the rule after the approval rule applied
    [executed] = w.providers["pager"].calls
    assert executed.payload == {"amount": 1500, "tracked": True}  # the modify rule before it, once
    records = (await w.audit.query(AuditQuery())).records
    assert [r.outcome for r in records] == ["rerouted", "pending_approval"]
    execution = records[0]
    assert (execution.verdict, execution.matched_rule) == ("reroute", "refunds-to-pager")
    assert (execution.caller_id, execution.auth_method) == ("system", "system")
    assert execution.action_payload == {"amount": 1500}  # as received, before modify
    types = w.event_types()
    assert types == ["approval_required", "action_dispatched", "approval_resolved", "action_dispatched"]
    resolved = w.events.retained()[2].to_json()
    assert (resolved["decision"], resolved["action_id"]) == ("approved", "a-1")
    assert w.events.retained()[3].id == execution.id
    snapshot = w.metrics.snapshot()
    assert (snapshot["dispatched"], snapshot["pending_approval"], snapshot["rerouted"]) == (2, 1, 1)
    stored = await w.approvals.view(ref_of(outcome), link_of(outcome.approve_url))
    assert stored.outcome == body["outcome"]


async def test_without_its_approval_rule_every_rule_runs_except_approvals() -> None:
    w = await world(RULES)
    outcome = await pending(w)
    w.rules[0] = RULES.replace("approve-refunds", "ask-again").replace("priority: 2", "priority: 3")
    await w.rulebook.reload(announce=False)
    result = await approve(w, outcome)
    assert result.to_json()["outcome"]["outcome"] == "rerouted"
    assert len(w.providers["mail"].calls) == 1  # no second approval was requested


async def test_an_approval_rule_after_the_first_asks_again() -> None:
    rules = RULES.replace(
        "action: {type: reroute, target_provider: pager}",
        "action: {type: request_approval, notify_provider: mail, timeout_seconds: 60}",
    )
    w = await world(rules)
    first = await pending(w)
    body = (await approve(w, first)).to_json()
    second = body["outcome"]
    assert second["outcome"] == "pending_approval" and second["approval_id"] != first.approval_id
    assert w.event_types()[2:] == ["approval_resolved", "approval_required", "action_dispatched"]


async def test_rejecting_drops_the_action_with_its_own_record() -> None:
    w = await world(RULES)
    outcome = await pending(w)
    before = w.metrics.snapshot()
    result = await approve(w, outcome, Decision.REJECT)
    assert result.to_json()["outcome"] is None
    assert result.to_json()["status"] == "rejected"
    assert w.providers["pager"].calls == [] and w.providers["email"].calls == []
    records = (await w.audit.query(AuditQuery())).records
    assert [r.outcome for r in records] == ["approval_rejected", "pending_approval"]
    rejected = records[0]
    assert (rejected.verdict, rejected.matched_rule) == ("request_approval", "approve-refunds")
    assert rejected.outcome_details == {"approval_id": outcome.approval_id}
    assert rejected.action_payload == {"amount": 1500}
    resolved = w.events.retained()[-1]
    assert resolved.type.value == "approval_resolved" and resolved.fields["decision"] == "rejected"
    assert resolved.id == rejected.id  # api.md §5.1
    after = w.metrics.snapshot()
    assert {k: v for k, v in after.items() if k != "events"} == {
        k: v for k, v in before.items() if k != "events"
    }
    with pytest.raises(ApprovalDecided, match=r"^approval already decided: rejected$"):
        await approve(w, outcome)


async def test_the_expiry_timer_expires_once_and_links_then_answer_410() -> None:
    w = await world(RULES)
    outcome = await pending(w)
    w.clock.advance(3599)
    await w.timers.tick()
    assert (
        await w.approvals.view(ref_of(outcome), link_of(outcome.approve_url))
    ).status is ApprovalStatus.PENDING
    w.clock.advance(1)
    await w.timers.tick()
    await w.timers.tick()
    view = await w.approvals.view(
        ref_of(outcome), link_of(outcome.approve_url)
    )  # check 1-2 only: still shown
    assert view.status is ApprovalStatus.EXPIRED
    records = (await w.audit.query(AuditQuery())).records
    assert [r.outcome for r in records] == ["approval_expired", "pending_approval"]
    assert w.event_types()[-1] == "approval_resolved"
    assert w.events.retained()[-1].fields["decision"] == "expired"
    with pytest.raises(ApprovalExpired):
        await approve(w, outcome)
    with pytest.raises(ApprovalExpired):
        await w.approvals.confirm(ref_of(outcome), link_of(outcome.approve_url))


async def test_a_request_that_touches_a_lapsed_approval_expires_it_first() -> None:
    w = await world(RULES)
    outcome = await pending(w)
    w.clock.advance(7200)  # no timer tick: the request finds it
    with pytest.raises(ApprovalExpired):
        await approve(w, outcome)
    with pytest.raises(ApprovalExpired):
        await approve(w, outcome, Decision.REJECT)
    await w.timers.tick()  # the worker finds nothing left to do
    records = (await w.audit.query(AuditQuery())).records
    assert [r.outcome for r in records] == ["approval_expired", "pending_approval"]
    assert w.providers["pager"].calls == []


async def test_check_order_signature_then_record() -> None:
    w = await world(RULES)
    outcome = await pending(w)
    good = link_of(outcome.approve_url)
    tampered = Link(("0" if good.sig[0] != "0" else "1") + good.sig[1:], good.expires_at, good.kid)  # type: ignore[index]
    unknown = ApprovalRef("payments", "acme", "00000000-0000-4000-8000-000000000000")
    with pytest.raises(InvalidSignature):
        await w.approvals.decide(ref_of(outcome), Decision.APPROVE, link=tampered, caller=None)
    with pytest.raises(InvalidSignature):  # an unknown id with a bad signature: 403, nothing read
        await w.approvals.decide(unknown, Decision.APPROVE, link=good, caller=None)
    kid, sig = LinkKeys([SigningKey("k1", bytes(32))]).sign(
        "payments", "acme", unknown.approval_id, int(good.expires_at or 0)
    )
    with pytest.raises(NotFound, match=unknown.approval_id):
        await w.approvals.decide(unknown, Decision.APPROVE, link=Link(sig, good.expires_at, kid), caller=None)
    with pytest.raises(InvalidSignature):  # the signature covers the scope
        await w.approvals.view(ApprovalRef("payments", "acme.eu", outcome.approval_id), good)


async def test_concurrent_decisions_have_exactly_one_winner() -> None:
    w = await world(RULES)
    outcome = await pending(w)
    decisions = [Decision.APPROVE, Decision.REJECT] * 5
    results = await asyncio.gather(
        *(approve(w, outcome, decision) for decision in decisions), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, ApprovalDecided) for r in results if r not in winners)
    assert len(w.providers["pager"].calls) <= 1
    assert len((await w.audit.query(AuditQuery())).records) == 2


async def test_a_failure_before_execution_reopens_the_approval() -> None:
    w = await world(RULES)
    outcome = await pending(w)
    w.registered.discard("pager")  # the reroute target left the config
    with pytest.raises(ProviderNotFound):
        await approve(w, outcome)
    assert (
        await w.approvals.view(ref_of(outcome), link_of(outcome.approve_url))
    ).status is ApprovalStatus.PENDING
    assert w.event_types() == ["approval_required", "action_dispatched"]  # nothing resolved
    w.registered.add("pager")
    assert (await approve(w, outcome)).to_json()["outcome"]["outcome"] == "rerouted"


async def test_credentialed_decisions_need_grants_covering_the_approval() -> None:
    w = await world(RULES)
    outcome = await pending(w)
    outsider = Caller("outsider", AuthMethod.API_KEY, Role.OPERATOR, (Grant(tenants=("other",)),))
    with pytest.raises(NotFound):
        await w.approvals.decide(ref_of(outcome), Decision.APPROVE, link=None, caller=outsider)
    with pytest.raises(InvalidSignature):
        await w.approvals.decide(ref_of(outcome), Decision.APPROVE, link=None, caller=None)
    alice = Caller("alice", AuthMethod.JWT, Role.OPERATOR, (Grant(tenants=("acme",)),))
    result = await w.approvals.decide(ref_of(outcome), Decision.REJECT, link=None, caller=alice)
    assert result.approval.decided_by == "alice"
    rejected = (await w.audit.query(AuditQuery())).records[0]
    assert (rejected.caller_id, rejected.auth_method) == ("alice", "jwt")


async def test_an_unsent_notification_is_resent_with_the_current_key() -> None:
    w = await world(RULES)
    w.providers["mail"].script = [
        ProviderError("connection", "refused"),
        ProviderError("connection", "refused"),
    ]
    outcome = await pending(w)
    assert outcome.notification_sent is False
    assert (await w.approvals.view(ref_of(outcome), link_of(outcome.approve_url))).notification_sent is False
    w.clock.advance(59)
    await w.timers.tick()
    assert len(w.providers["mail"].calls) == 1
    w.clock.advance(1)
    await w.timers.tick()  # fails again: armed for another interval
    assert len(w.providers["mail"].calls) == 2
    w.providers["mail"].script = []  # from now on every call succeeds
    w.clock.advance(60)
    await w.timers.tick()
    assert len(w.providers["mail"].calls) == 3
    resent = w.providers["mail"].calls[-1].payload
    assert resent["approve_url"] == outcome.approve_url  # type: ignore[index]
    assert (await w.approvals.view(ref_of(outcome), link_of(outcome.approve_url))).notification_sent is True
    w.clock.advance(600)
    await w.timers.tick()
    assert len(w.providers["mail"].calls) == 3
    assert await w.store.due(NOTIFICATION_TIMERS, w.clock.now()) == []


async def test_without_configured_keys_one_generated_key_is_shared() -> None:
    store = MemoryStateStore(ManualClock(START))
    first = await world(RULES, settings=ApprovalsSettings(), store=store)
    outcome = await pending(first)
    assert outcome.approve_url.endswith("&kid=k0")
    assert await store.get(keys.approval_signing_key("k0")) is not None
    second = await world(RULES, settings=ApprovalsSettings(), store=store)  # another instance, or a restart
    view = await second.approvals.view(ref_of(outcome), link_of(outcome.approve_url))
    assert view.approval_id == outcome.approval_id


async def test_retention_removes_decided_records() -> None:
    w = await world(RULES, settings=ApprovalsSettings(keys=[KEY], retention_seconds=60))
    outcome = await pending(w)
    await approve(w, outcome, Decision.REJECT)
    w.clock.advance(61)
    with pytest.raises(NotFound):
        await approve(w, outcome)
    assert await w.approvals.listing(status="all", namespace=None, tenant=None, visible=lambda a: True) == []


async def test_listing_filters_and_orders_newest_first() -> None:
    w = await world(RULES)
    first = await pending(w)
    w.clock.advance(1)
    second = await pending(w, id="a-2", tenant="globex")
    await approve(w, first, Decision.REJECT)

    async def ids(**filters: object) -> list[str]:
        found = await w.approvals.listing(
            **{"namespace": None, "tenant": None, "visible": lambda a: True, **filters}
        )  # type: ignore[arg-type]
        return [a.approval_id for a in found]

    assert await ids(status="all") == [second.approval_id, first.approval_id]
    assert await ids(status="pending") == [second.approval_id]
    assert await ids(status="rejected") == [first.approval_id]
    assert await ids(status="all", tenant="acme") == [first.approval_id]
    assert await ids(status="all", visible=lambda a: a.tenant == "globex") == [second.approval_id]
    assert await ids(status="all", namespace="other") == []
