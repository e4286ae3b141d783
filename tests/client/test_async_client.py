"""``AsyncClient`` against a real server, one test per area of api.md: every method is called for real and
its typed result checked against what the server did."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.client.conftest import action
from tidegate.api.approval_schemas import Approval
from tidegate.api.schemas import HealthOk
from tidegate.client import (
    AsyncClient,
    ConflictError,
    NotFoundError,
    TransportError,
    ValidationError,
)
from tidegate.model.action import ActionRequest
from tidegate.model.audit import AuditRecord
from tidegate.model.outcome import (
    Deduplicated,
    DryRun,
    Executed,
    Grouped,
    PendingApproval,
    StateChanged,
    Suppressed,
)

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_health_metrics_and_docs(tg: AsyncClient) -> None:
    health = await tg.health()
    assert isinstance(health, HealthOk) and health.status == "ok"
    counters = await tg.metrics()
    assert counters.dispatched == sum(
        getattr(counters, name)
        for name in type(counters).model_fields
        if name not in ("dispatched", "dry_run")
    )
    text = await tg.metrics_prometheus()
    assert "# TYPE tidegate_actions_dispatched_total counter" in text
    document = await tg.openapi()
    assert document["openapi"].startswith("3.1")


async def test_dispatch_returns_the_servers_outcome_values(tg: AsyncClient, tenant: str) -> None:
    result = await tg.dispatch(action(tenant), traceparent=TRACEPARENT, tracestate="vendor=x")
    assert isinstance(result.outcome, Executed) and result.category == "executed"
    assert result.outcome.response.status == "success"
    record = await tg.audit_record(result.action_id)
    assert record.trace_context == {"traceparent": TRACEPARENT, "tracestate": "vendor=x"}
    assert result.to_json()["outcome"] == "executed"

    suppressed = await tg.dispatch(action(tenant, "spam"))
    assert suppressed.outcome == Suppressed(rule="block-spam")

    dry = await tg.dispatch(action(tenant, "spam"), dry_run=True)
    assert dry.outcome == DryRun(verdict="suppress", matched_rule="block-spam", would_be_provider="log")


async def test_dispatch_accepts_the_servers_request_model(tg: AsyncClient, tenant: str) -> None:
    request = ActionRequest.model_validate(
        {**action(tenant), "dedup_key": "k", "metadata": {"labels": {"p": "1"}}}
    )
    result = await tg.dispatch(request)
    assert isinstance(result.outcome, Executed)
    record = await tg.audit_record(result.action_id)
    assert record.metadata == {"p": "1"} and record.dedup_key == "k"


async def test_dispatch_errors_are_typed(tg: AsyncClient, tenant: str) -> None:
    with pytest.raises(NotFoundError) as missing:
        await tg.dispatch({**action(tenant), "provider": "nope"})
    assert missing.value.code == "provider_not_found" and missing.value.status == 404
    assert missing.value.message == "Provider not found: nope" and not missing.value.retryable
    assert missing.value.correlation_id

    with pytest.raises(ValidationError) as invalid:
        await tg.dispatch({"namespace": "n", "tenant": tenant})
    assert invalid.value.status == 422 and invalid.value.code == "validation_error"
    assert isinstance(invalid.value.detail, list)
    assert {"body", "provider"} <= {str(part) for issue in invalid.value.detail for part in issue["loc"]}


async def test_dispatch_batch_keeps_order_and_item_errors(tg: AsyncClient, tenant: str) -> None:
    items = await tg.dispatch_batch(
        [action(tenant), {**action(tenant), "provider": "sms"}, action(tenant, "spam")]
    )
    assert [item.ok for item in items] == [True, False, True]
    assert items[0].result is not None and isinstance(items[0].result.outcome, Executed)
    assert items[1].error is not None and items[1].error.code == "provider_not_found"
    assert items[2].result is not None and items[2].result.category == "suppressed"

    dry = await tg.dispatch_batch([action(tenant)], dry_run=True)
    assert dry[0].result is not None and isinstance(dry[0].result.outcome, DryRun)


async def test_rules_list_toggle_and_reload(tg: AsyncClient) -> None:
    rules = await tg.rules()
    assert [r.name for r in rules][:2] == ["block-spam", "approve-refunds"]
    quiet = next(r for r in rules if r.name == "quiet-hours")
    assert quiet.enabled is False and quiet.action == "deny"

    changed = await tg.set_rule_enabled("quiet-hours", True)
    assert changed.name == "quiet-hours" and changed.enabled is True
    assert next(r for r in await tg.rules() if r.name == "quiet-hours").enabled is True
    await tg.set_rule_enabled("quiet-hours", False)

    reloaded = await tg.reload_rules()
    assert reloaded.applied and reloaded.loaded == len(rules) and reloaded.errors == []

    with pytest.raises(NotFoundError):
        await tg.set_rule_enabled("no-such/rule", True)


async def test_audit_pages_and_records(tg: AsyncClient, tenant: str) -> None:
    first = await tg.dispatch(action(tenant))
    second = await tg.dispatch(action(tenant, "spam"))
    page = await tg.audit(tenant=tenant)
    assert page.total == 2 and page.count == 2 and page.limit == 50 and page.offset == 0
    assert all(isinstance(r, AuditRecord) for r in page.items)
    assert [r.action_id for r in page.items] == [second.action_id, first.action_id]

    only = await tg.audit(tenant=tenant, outcome="suppressed")
    assert [r.action_id for r in only.items] == [second.action_id]
    first_page = await tg.audit(tenant=tenant, limit=1)
    assert first_page.next_offset == 1
    assert (await tg.audit(tenant=tenant, limit=1, offset=1)).next_offset is None

    now = datetime.now(UTC)
    window = await tg.audit(tenant=tenant, from_=now - timedelta(minutes=5), to=now + timedelta(minutes=5))
    assert window.total == 2
    assert (await tg.audit(tenant=tenant, from_=now + timedelta(minutes=5))).total == 0

    record = await tg.audit_record(first.action_id)
    assert record.outcome == "executed" and record.tenant == tenant
    with pytest.raises(NotFoundError):
        await tg.audit_record("019c3882-0000-7000-8000-000000000000")


async def test_state_machine_events(tg: AsyncClient, tenant: str) -> None:
    result = await tg.dispatch(action(tenant, "ticket", fingerprint="fp-1"))
    assert isinstance(result.outcome, StateChanged) and result.outcome.new_state == "open"

    page = await tg.events(tenant=tenant)
    assert [e.fingerprint for e in page.items] == ["fp-1"] and page.total == 1
    assert (await tg.events(tenant=tenant, status="closed")).total == 0

    state = await tg.event("fp-1", namespace="notifications", tenant=tenant)
    assert state.state == "open" and state.state_machine == "ticket"

    moved = await tg.transition_event("fp-1", "acknowledged", namespace="notifications", tenant=tenant)
    assert (moved.previous_state, moved.new_state) == ("open", "acknowledged")

    with pytest.raises(ConflictError) as refused:
        await tg.transition_event("fp-1", "open", namespace="notifications", tenant=tenant)
    assert refused.value.code == "invalid_transition"
    assert refused.value.message == "transition from 'acknowledged' to 'open' is not allowed"

    with pytest.raises(NotFoundError):
        await tg.event("fp/other", namespace="notifications", tenant=tenant)


def _signature(url: str) -> dict[str, str]:
    query = parse_qs(urlsplit(url).query)
    return {name: values[0] for name, values in query.items()}


async def test_approvals_by_signed_link(tg: AsyncClient, tenant: str) -> None:
    held = await tg.dispatch(action(tenant, "refund"))
    assert isinstance(held.outcome, PendingApproval)
    approval_id = held.outcome.approval_id

    page = await tg.approvals(tenant=tenant)
    assert [a.approval_id for a in page.items] == [approval_id]
    assert isinstance(page.items[0], Approval) and page.items[0].status == "pending"

    sig = _signature(held.outcome.approve_url)
    status = await tg.approval(
        "notifications",
        tenant,
        approval_id,
        sig=sig["sig"],
        expires_at=int(sig["expires_at"]),
        kid=sig["kid"],
    )
    assert status.status == "pending" and status.rule == "approve-refunds"

    decision = await tg.approve("notifications", tenant, approval_id, **_signed_kwargs(sig))
    assert decision.status == "approved" and decision.decided_by == "link"
    assert decision.outcome is not None and isinstance(decision.outcome.outcome, Executed)

    with pytest.raises(ConflictError) as again:
        await tg.decide_link(held.outcome.reject_url)
    assert (
        again.value.code == "approval_decided" and again.value.message == "approval already decided: approved"
    )

    other = await tg.dispatch(action(tenant, "refund"))
    assert isinstance(other.outcome, PendingApproval)
    rejected = await tg.decide_link(other.outcome.reject_url)
    assert rejected.status == "rejected" and rejected.decided_by == "link" and rejected.outcome is None

    third = await tg.dispatch(action(tenant, "refund"))
    assert isinstance(third.outcome, PendingApproval)
    rejected_signed = await tg.reject(
        "notifications",
        tenant,
        third.outcome.approval_id,
        **_signed_kwargs(_signature(third.outcome.reject_url)),
    )
    assert rejected_signed.decided_by == "link"
    assert {a.status for a in (await tg.approvals(tenant=tenant, status="all")).items} == {
        "approved",
        "rejected",
    }

    with pytest.raises(ValueError):
        await tg.decide_link("https://example.com/elsewhere")


async def test_approvals_without_a_link_when_auth_is_off(tg: AsyncClient, tenant: str) -> None:
    """Auth off: the client is the anonymous admin, so ``approve``/``reject`` need no ``sig`` (api.md §7)."""
    held = await tg.dispatch(action(tenant, "refund"))
    assert isinstance(held.outcome, PendingApproval)
    decision = await tg.approve("notifications", tenant, held.outcome.approval_id)
    assert (decision.status, decision.decided_by) == ("approved", "anonymous")
    assert decision.outcome is not None and isinstance(decision.outcome.outcome, Executed)
    other = await tg.dispatch(action(tenant, "refund"))
    assert isinstance(other.outcome, PendingApproval)
    rejected = await tg.reject("notifications", tenant, other.outcome.approval_id)
    assert (rejected.status, rejected.decided_by, rejected.outcome) == ("rejected", "anonymous", None)


def _signed_kwargs(sig: dict[str, str]) -> dict[str, object]:
    return {"sig": sig["sig"], "expires_at": int(sig["expires_at"]), "kid": sig["kid"]}


async def test_groups_list_detail_and_flush(tg: AsyncClient, tenant: str) -> None:
    grouped = [await tg.dispatch(action(tenant, "cluster_cpu", metadata={"cluster": "c1"})) for _ in range(2)]
    outcome = grouped[1].outcome
    assert isinstance(outcome, Grouped) and outcome.group_size == 2

    page = await tg.groups(tenant=tenant)
    assert [g.group_key for g in page.items] == [outcome.group_key] and page.items[0].state == "pending"
    detail = await tg.group(outcome.group_key)
    assert [e.action_id for e in detail.events] == [r.action_id for r in grouped]

    flushed = await tg.flush_group(outcome.group_key)
    assert flushed.status == "flushed" and flushed.event_count == 2 and flushed.notified
    assert flushed.notification is not None and isinstance(flushed.notification.outcome, Executed)
    with pytest.raises(NotFoundError):
        await tg.group(outcome.group_key)


async def test_circuit_breakers(tg: AsyncClient) -> None:
    breakers = await tg.circuit_breakers()
    webhook = next(b for b in breakers if b.provider == "webhook")
    assert webhook.state == "closed" and webhook.fallback_provider == "log"
    try:
        tripped = await tg.trip_circuit_breaker("webhook")
        assert (tripped.state, tripped.message) == ("open", "circuit breaker tripped")
        assert next(b for b in await tg.circuit_breakers() if b.provider == "webhook").forced
    finally:
        reset = await tg.reset_circuit_breaker("webhook")
    assert (reset.state, reset.message) == ("closed", "circuit breaker reset")
    with pytest.raises(NotFoundError):
        await tg.trip_circuit_breaker("nope")


async def test_recurring_actions_lifecycle(tg: AsyncClient, tenant: str) -> None:
    spec = {
        "namespace": "notifications",
        "tenant": tenant,
        "provider": "log",
        "action_type": "digest",
        "cron_expr": "0 9 * * MON-FRI",
        "timezone": "US/Eastern",
        "description": "weekday digest",
    }
    created = await tg.create_recurring(spec)
    assert created.enabled and created.cron_expr == "0 9 * * MON-FRI" and created.next_execution
    where = {"namespace": "notifications", "tenant": tenant}

    page = await tg.recurring_actions(**where)
    assert [r.recurring_id for r in page.items] == [created.recurring_id]
    assert (await tg.recurring_actions(**where, enabled=False)).total == 0

    fetched = await tg.recurring(created.recurring_id, **where)
    assert fetched.description == "weekday digest" and fetched.timezone == "US/Eastern"

    updated = await tg.update_recurring(created.recurring_id, {"description": "daily"}, **where)
    assert updated.description == "daily"

    paused = await tg.pause_recurring(created.recurring_id, **where)
    assert not paused.enabled and paused.next_execution is None
    with pytest.raises(ConflictError) as again:
        await tg.pause_recurring(created.recurring_id, **where)
    assert again.value.message == "recurring action is already paused"
    resumed = await tg.resume_recurring(created.recurring_id, **where)
    assert resumed.enabled and resumed.next_execution is not None

    await tg.delete_recurring(created.recurring_id, **where)
    with pytest.raises(NotFoundError):
        await tg.recurring(created.recurring_id, **where)

    with pytest.raises(Exception) as bad_cron:
        await tg.create_recurring({**spec, "cron_expr": "* * * * * *"})
    assert (
        getattr(bad_cron.value, "code", None) == "invalid_cron"
        and getattr(bad_cron.value, "status", 0) == 400
    )


async def test_login_on_a_server_without_auth(tg: AsyncClient) -> None:
    with pytest.raises(NotFoundError) as disabled:
        await tg.login("admin", "secret-secret")
    assert disabled.value.code == "auth_disabled"


async def test_deduplicated_outcome_round_trips(tg: AsyncClient, tenant: str) -> None:
    # No deduplicate rule on this server: the same id runs again (api.md §3.2), never deduplicated.
    first = await tg.dispatch({**action(tenant), "id": "fixed-id"})
    second = await tg.dispatch({**action(tenant), "id": "fixed-id"})
    assert first.action_id == second.action_id == "fixed-id"
    assert not isinstance(second.outcome, Deduplicated)


async def test_an_unreachable_server_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AsyncClient(f"http://127.0.0.1:{port}", timeout=2.0) as client:
        with pytest.raises(TransportError) as failure:
            await client.health()
    assert (
        failure.value.retryable and failure.value.status is None and "ConnectError" in failure.value.message
    )
