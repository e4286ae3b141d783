"""Chains, executions and chain definitions through ``AsyncClient`` on a real server (api.md §9,
stream.md §2): typed summaries, the durable history, the per-execution stream and definition changes."""

from __future__ import annotations

import asyncio

import pytest

from tests.client.conftest import action
from tidegate.api.chain_schemas import ChainDefinitionView, ChainDetail, HistoryEntry
from tidegate.client import AsyncClient, ConflictError, ExecutionDone, NotFoundError
from tidegate.model.outcome import ChainStarted


async def _finished(tg: AsyncClient, chain_id: str) -> ChainDetail:
    """Wait for the run to end by following its stream, then read its detail."""
    [item async for item in tg.execution_events(chain_id, timeout=10)]
    return await tg.chain(chain_id)


async def test_a_chain_run_listed_detailed_and_its_history(tg: AsyncClient, tenant: str) -> None:
    started = await tg.dispatch(action(tenant, "pipeline"))
    assert isinstance(started.outcome, ChainStarted) and started.outcome.total_steps == 2
    chain_id = started.outcome.chain_id
    detail = await _finished(tg, chain_id)
    assert detail.status == "completed" and detail.execution_path == ["first", "second"]
    assert [step.status for step in detail.steps] == ["completed", "completed"]

    page = await tg.chains(tenant=tenant)
    assert [c.chain_id for c in page.items] == [chain_id] and page.total == 1
    assert (await tg.chains(tenant=tenant, status="running")).total == 0
    assert (await tg.chains(tenant=tenant, chain_name="two-step")).total == 1
    with pytest.raises(NotFoundError):
        await tg.chain(chain_id, tenant="someone-else")

    history = await tg.execution_history(chain_id)
    assert [e.seq for e in history.events] == list(range(1, history.last_seq + 1))
    assert history.events[0].type == "initiated" and history.events[-1].type == "completed"
    later = await tg.execution_history(chain_id, after=2, limit=2)
    assert [e.seq for e in later.events] == [3, 4] and later.last_seq == history.last_seq

    with pytest.raises(ConflictError) as done:
        await tg.cancel_chain(chain_id, reason="too late")
    assert done.value.message == "chain is not running (status: completed)"


async def test_execution_events_replay_then_stop_at_done(tg: AsyncClient, tenant: str) -> None:
    started = await tg.dispatch(action(tenant, "pipeline"))
    assert isinstance(started.outcome, ChainStarted)
    items = [item async for item in tg.execution_events(started.outcome.chain_id, timeout=30)]
    entries = [i for i in items if isinstance(i, HistoryEntry)]
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert entries[-1].type == "completed"
    done = items[-1]
    assert isinstance(done, ExecutionDone) and done.reason == "terminal"
    assert done.summary.status == "completed" and done.summary.chain_id == started.outcome.chain_id

    resumed = [i async for i in tg.execution_events(started.outcome.chain_id, last_seq=2)]
    assert [i.seq for i in resumed if isinstance(i, HistoryEntry)] == [e.seq for e in entries[2:]]


async def test_cancel_a_running_chain_ends_its_stream(tg: AsyncClient, tenant: str) -> None:
    started = await tg.dispatch(action(tenant, "slow_pipeline"))
    assert isinstance(started.outcome, ChainStarted)
    chain_id = started.outcome.chain_id

    async def follow() -> list[object]:
        return [item async for item in tg.execution_events(chain_id, timeout=60)]

    watcher = asyncio.create_task(follow())
    await asyncio.sleep(0.3)
    cancelled = await tg.cancel_chain(chain_id, reason="superseded", namespace="notifications", tenant=tenant)
    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "superseded"
    assert cancelled.cancelled_by == "anonymous"
    items = await asyncio.wait_for(watcher, 10)
    done = items[-1]
    assert isinstance(done, ExecutionDone) and done.summary.status == "cancelled"
    assert any(isinstance(i, HistoryEntry) and i.type == "cancelled" for i in items)


async def test_execution_events_timeout_ends_with_done(tg: AsyncClient, tenant: str) -> None:
    started = await tg.dispatch(action(tenant, "slow_pipeline"))
    assert isinstance(started.outcome, ChainStarted)
    items = [i async for i in tg.execution_events(started.outcome.chain_id, timeout=1)]
    done = items[-1]
    assert isinstance(done, ExecutionDone) and done.reason == "timeout" and done.summary.status == "running"
    await tg.cancel_chain(started.outcome.chain_id)
    with pytest.raises(NotFoundError):
        [i async for i in tg.execution_events("019c3882-0000-7000-8000-000000000000")]


async def test_chain_definitions(tg: AsyncClient) -> None:
    listed = await tg.chain_definitions()
    assert {d.name: d.source for d in listed}["two-step"] == "config"
    assert all(isinstance(d, ChainDefinitionView) for d in listed)

    definition = {"name": "adhoc", "steps": [{"name": "only", "provider": "log", "action_type": "x"}]}
    created = await tg.put_chain_definition("adhoc", definition)
    assert created.source == "api" and [s.name for s in created.steps] == ["only"]
    fetched = await tg.chain_definition("adhoc")
    assert fetched.name == "adhoc"
    await tg.delete_chain_definition("adhoc")
    with pytest.raises(NotFoundError):
        await tg.chain_definition("adhoc")

    with pytest.raises(ConflictError):
        await tg.put_chain_definition("two-step", {"name": "two-step", "steps": definition["steps"]})
