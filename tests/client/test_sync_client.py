"""The blocking ``Client`` against a real server: every method once, plus its streams resuming after a
cut connection (the code is generated from ``AsyncClient``; this checks the blocking I/O under it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.client._proxy import Proxy
from tests.client.conftest import action
from tidegate.client import (
    Backoff,
    Client,
    ConflictError,
    ConnectionChange,
    DispatchDone,
    ExecutionDone,
    HistoryEntry,
    Lagged,
    NotFoundError,
    StreamEvent,
)
from tidegate.model.outcome import ChainStarted, Grouped, PendingApproval


@pytest.fixture
def tg(server: str) -> Iterator[Client]:
    with Client(server, timeout=10.0) as client:
        yield client


def test_every_plain_method(tg: Client, tenant: str) -> None:
    assert tg.health().status == "ok" and tg.metrics().dispatched >= 0
    assert "tidegate_build_info" in tg.metrics_prometheus() and "paths" in tg.openapi()

    result = tg.dispatch(action(tenant))
    assert result.category == "executed"
    assert [i.ok for i in tg.dispatch_batch([action(tenant), {**action(tenant), "provider": "x"}])] == [
        True,
        False,
    ]
    assert (
        tg.audit(tenant=tenant).total == 2 and tg.audit_record(result.action_id).action_id == result.action_id
    )

    assert tg.rules()[0].name == "block-spam"
    assert tg.set_rule_enabled("quiet-hours", False).enabled is False
    assert tg.reload_rules().applied

    tg.dispatch(action(tenant, "ticket", fingerprint="fp"))
    assert tg.events(tenant=tenant).total == 1
    assert tg.event("fp", namespace="notifications", tenant=tenant).state == "open"
    assert tg.transition_event("fp", "acknowledged", namespace="notifications", tenant=tenant).notify is False

    held = tg.dispatch(action(tenant, "refund"))
    assert isinstance(held.outcome, PendingApproval)
    sig = {k: v[0] for k, v in parse_qs(urlsplit(held.outcome.approve_url).query).items()}
    approval_id = held.outcome.approval_id
    assert tg.approvals(tenant=tenant).items[0].approval_id == approval_id
    view = tg.approval(
        "notifications", tenant, approval_id, sig=sig["sig"], expires_at=int(sig["expires_at"])
    )
    assert view.status == "pending"
    assert tg.approve("notifications", tenant, approval_id, sig=sig["sig"], expires_at=int(sig["expires_at"]))
    with pytest.raises(ConflictError):
        tg.reject("notifications", tenant, approval_id, sig=sig["sig"], expires_at=int(sig["expires_at"]))
    other = tg.dispatch(action(tenant, "refund"))
    assert isinstance(other.outcome, PendingApproval)
    assert tg.decide_link(other.outcome.reject_url).status == "rejected"

    grouped = tg.dispatch(action(tenant, "cluster_cpu", metadata={"cluster": "c"}))
    assert isinstance(grouped.outcome, Grouped)
    assert tg.groups(tenant=tenant).total == 1 and len(tg.group(grouped.outcome.group_key).events) == 1
    assert tg.flush_group(grouped.outcome.group_key).notified

    assert {b.provider for b in tg.circuit_breakers()} == {"log", "webhook"}
    assert tg.trip_circuit_breaker("webhook").state == "open"
    assert tg.reset_circuit_breaker("webhook").state == "closed"

    where = {"namespace": "notifications", "tenant": tenant}
    created = tg.create_recurring({**where, "provider": "log", "action_type": "d", "cron_expr": "@daily"})
    rid = created.recurring_id
    assert tg.recurring_actions(**where).total == 1 and tg.recurring(rid, **where).cron_expr == "@daily"
    assert tg.update_recurring(rid, {"description": "x"}, **where).description == "x"
    assert not tg.pause_recurring(rid, **where).enabled and tg.resume_recurring(rid, **where).enabled
    tg.delete_recurring(rid, **where)
    with pytest.raises(NotFoundError):
        tg.recurring(rid, **where)
    with pytest.raises(NotFoundError):
        tg.login("alice", "password-password")


def test_chain_methods_and_execution_events(tg: Client, tenant: str) -> None:
    started = tg.dispatch(action(tenant, "pipeline"))
    assert isinstance(started.outcome, ChainStarted)
    chain_id = started.outcome.chain_id
    items = list(tg.execution_events(chain_id, timeout=30))
    assert isinstance(items[-1], ExecutionDone) and items[-1].reason == "terminal"
    assert all(isinstance(i, HistoryEntry) for i in items[:-1])
    assert tg.chain(chain_id).status == "completed" and tg.chains(tenant=tenant).total == 1
    assert tg.execution_history(chain_id).last_seq == len(items) - 1
    with pytest.raises(ConflictError):
        tg.cancel_chain(chain_id)
    assert "two-step" in {d.name for d in tg.chain_definitions()}
    assert tg.chain_definition("two-step").source == "config"
    steps = [{"name": "s", "provider": "log", "action_type": "x"}]
    assert tg.put_chain_definition("sync-adhoc", {"name": "sync-adhoc", "steps": steps}).source == "api"
    tg.delete_chain_definition("sync-adhoc")

    streamed = list(tg.dispatch_stream(action(tenant)))
    assert isinstance(streamed[-1], DispatchDone) and streamed[-1].result is not None


def test_stream_resumes_after_a_cut(server: str, tg: Client, tenant: str) -> None:
    changes: list[ConnectionChange] = []
    received: list[StreamEvent | Lagged] = []
    with Proxy(server) as proxy, Client(proxy.url, backoff=Backoff(initial=0.05, maximum=0.2)) as via:

        def read() -> None:
            for item in via.stream(tenant=tenant, on_connection=changes.append):
                received.append(item)
                if len(received) == 3:
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        _wait(lambda: changes and changes[-1].state == "connected")
        first = tg.dispatch(action(tenant))
        _wait(lambda: len(received) == 1)
        proxy.cut()
        missed = [tg.dispatch(action(tenant)) for _ in range(2)]
        reader.join(10)
    assert [e.action_id for e in received if isinstance(e, StreamEvent)] == [
        first.action_id,
        *(m.action_id for m in missed),
    ]
    assert [c.state for c in changes] == ["connected", "disconnected", "connected"]


def _wait(condition: object, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition still false")
        time.sleep(0.01)
