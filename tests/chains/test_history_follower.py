"""``HistoryFollower`` over the real ``ChainRepository`` (memory store): replay from a seq, live entries
exactly once and in order, the terminal end (later entries stay in the history), timeout, outage,
polling without notifications, the read/wait race, stop and drain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from tidegate.chains.repository import ChainRepository
from tidegate.chains.run import ChainRun
from tidegate.chains.stream import End, EndReason, HistoryFollower, Step
from tidegate.chains.watch import ExecutionWatch
from tidegate.clock import ManualClock
from tidegate.config.chains import ChainDefinition, ChainStep
from tidegate.errors import BackendUnavailable
from tidegate.model.action import ActionRequest
from tidegate.model.ids import new_id
from tidegate.model.json import JsonObject, JsonValue
from tidegate.store import keys
from tidegate.store.memory import MemoryStateStore

WITHIN = 5.0


class Chains:
    """A repository on a memory store whose appends notify ``watch`` (as the engine's do)."""

    def __init__(self, *, notify: bool = True) -> None:
        self.clock = ManualClock()
        self.store = MemoryStateStore(self.clock)
        self.watch = ExecutionWatch()
        self.repository = ChainRepository(
            self.store, self.clock, retention_seconds=3600, appended=self.watch.notify if notify else None
        )

    async def start(self) -> str:
        now = self.clock.now()
        definition = ChainDefinition(
            name="pipeline",
            steps=[ChainStep(name=name, provider="log", action_type="step") for name in ("a", "b", "c")],
        )
        origin = ActionRequest(
            namespace="ns", tenant="acme", provider="log", action_type="go", payload={}
        ).normalize(now)
        chain_id = new_id()
        run = ChainRun(
            chain_id=chain_id,
            definition=definition,
            origin=origin,
            matched_rule=None,
            status="running",
            started_at=now,
            updated_at=now,
            expires_at=now + timedelta(hours=1),
            timeout_seconds=3600,
            current_step="a",
        ).appended(
            now,
            [
                (
                    "initiated",
                    {
                        "chain_name": "pipeline",
                        "total_steps": 3,
                        "first_step": "a",
                        "origin_action_id": origin.id,
                    },
                )
            ],
        )
        assert await self.repository.create(run)
        return chain_id

    async def append(self, chain_id: str, kind: str, **changes: Any) -> None:
        fields: JsonObject = (
            {"step_name": "a", "step_index": 0, "attempt": 1} if kind.startswith("step") else {}
        )
        now = self.clock.now()
        landed = await self.repository.update(
            chain_id, lambda run: run.appended(now, [(kind, fields)], **changes)
        )
        assert landed is not None

    async def finish(self, chain_id: str) -> None:
        await self.append(chain_id, "completed", status="completed", completed_at=self.clock.now())

    def follower(
        self, chain_id: str, *, after: int = 0, timeout: float = 30.0, **kwargs: Any
    ) -> HistoryFollower:
        return HistoryFollower(self.repository, self.watch, chain_id, after=after, timeout=timeout, **kwargs)


@pytest.fixture
async def chains() -> AsyncIterator[Chains]:
    yield Chains()


def seqs(entries: list[dict[str, JsonValue]]) -> list[JsonValue]:
    return [entry["seq"] for entry in entries]


async def drain(follower: HistoryFollower, limit: int = 100) -> tuple[list[dict[str, JsonValue]], End]:
    """Every entry up to the end, and the end."""
    entries: list[dict[str, JsonValue]] = []
    async with asyncio.timeout(WITHIN):
        while True:
            step = await follower.next(limit, None)
            assert step is not None
            entries.extend(step.entries)
            if step.end is not None:
                assert await follower.next(limit, None) is None  # nothing after the end
                return entries, step.end


async def test_replays_then_follows_live_then_ends_after_the_terminal_entry(chains: Chains) -> None:
    chain_id = await chains.start()
    await chains.append(chain_id, "processing")
    follower = chains.follower(chain_id)
    first = await follower.next(100, None)
    assert first is not None and seqs(first.entries) == [1, 2]
    waiting = asyncio.create_task(follower.next(100, None))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await chains.append(chain_id, "step_start")
    step = await asyncio.wait_for(waiting, WITHIN)
    assert step is not None and seqs(step.entries) == [3] and step.end is None
    await chains.append(chain_id, "step_complete")
    await chains.finish(chain_id)
    await chains.append(chain_id, "step_failed")  # after the terminal entry: history only (§2.5)
    rest, end = await drain(follower)
    assert seqs(rest) == [4, 5]
    assert rest[-1]["type"] == "completed"
    assert end.reason is EndReason.TERMINAL
    done = end.done()
    assert done["status"] == "completed" and done["reason"] == "terminal" and done["chain_id"] == chain_id
    follower.close()


async def test_resumes_after_a_seq_without_repeats(chains: Chains) -> None:
    chain_id = await chains.start()
    for kind in ("processing", "step_start", "step_complete"):
        await chains.append(chain_id, kind)
    await chains.finish(chain_id)
    entries, end = await drain(chains.follower(chain_id, after=3))
    assert seqs(entries) == [4, 5] and end.reason is EndReason.TERMINAL
    entries, end = await drain(chains.follower(chain_id, after=5))  # at the terminal entry: just done
    assert entries == [] and end.reason is EndReason.TERMINAL
    await chains.append(chain_id, "step_failed")  # seq 6, after the terminal entry
    entries, end = await drain(chains.follower(chain_id, after=6))
    assert entries == [] and end.reason is EndReason.TERMINAL


async def test_hands_out_at_most_limit_entries_per_step(chains: Chains) -> None:
    chain_id = await chains.start()
    for _ in range(4):
        await chains.append(chain_id, "step_start")
    await chains.finish(chain_id)
    follower = chains.follower(chain_id)
    sizes = []
    async with asyncio.timeout(WITHIN):
        while (step := await follower.next(2, None)) is not None:
            sizes.append(len(step.entries))
    assert sizes == [2, 2, 2]


async def test_idle_wait_returns_an_empty_step(chains: Chains) -> None:
    chain_id = await chains.start()
    follower = chains.follower(chain_id, after=1)
    assert await follower.next(10, 0.05) == Step([])


async def test_timeout_ends_with_the_current_summary(chains: Chains) -> None:
    chain_id = await chains.start()
    entries, end = await drain(chains.follower(chain_id, timeout=0.2))
    assert seqs(entries) == [1]
    assert end.reason is EndReason.TIMEOUT and end.done()["status"] == "running"
    assert end.done()["reason"] == "timeout"


async def test_without_notifications_the_poll_finds_changes() -> None:
    chains = Chains(notify=False)  # another instance wrote: nothing announced on this one
    chain_id = await chains.start()
    follower = chains.follower(chain_id, after=1, poll_seconds=0.05)
    waiting = asyncio.create_task(follower.next(10, None))
    await asyncio.sleep(0.01)
    await chains.append(chain_id, "processing")
    step = await asyncio.wait_for(waiting, WITHIN)
    assert step is not None and seqs(step.entries) == [2]


class CommitsDuringRead:
    """A source where another change lands (and is announced) right after each of the first reads."""

    def __init__(self, chains: Chains, chain_id: str) -> None:
        self.chains, self.chain_id, self.reads = chains, chain_id, 0

    async def load(self, chain_id: str) -> ChainRun | None:
        run = await self.chains.repository.load(chain_id)
        self.reads += 1
        if self.reads == 1:
            await self.chains.append(self.chain_id, "processing")  # notifies before the follower waits
        return run


async def test_a_change_between_read_and_wait_is_not_missed(chains: Chains) -> None:
    chain_id = await chains.start()
    source = CommitsDuringRead(chains, chain_id)
    # A poll far beyond the test's patience: only the wake-up taken before the read can deliver seq 2.
    follower = HistoryFollower(source, chains.watch, chain_id, after=0, timeout=60, poll_seconds=600)
    got: list[dict[str, JsonValue]] = []
    async with asyncio.timeout(WITHIN):
        while len(got) < 2:
            step = await follower.next(10, None)
            assert step is not None
            got.extend(step.entries)
    assert seqs(got) == [1, 2]


class Outage:
    """The repository, unreachable while ``down`` (a store outage as the follower sees it)."""

    def __init__(self, chains: Chains) -> None:
        self.chains, self.down = chains, False

    async def load(self, chain_id: str) -> ChainRun | None:
        if self.down:
            raise BackendUnavailable("state store unavailable")
        return await self.chains.repository.load(chain_id)


async def test_a_short_outage_is_ridden_out_and_a_long_one_ends_the_stream(chains: Chains) -> None:
    chain_id = await chains.start()
    source = Outage(chains)
    run = await chains.repository.load(chain_id)
    follower = HistoryFollower(
        source, chains.watch, chain_id, after=1, timeout=60, run=run, poll_seconds=0.02, outage_seconds=0.3
    )
    source.down = True
    assert await follower.next(10, 0.1) == Step([])  # still open: keep-alives go on
    source.down = False
    await chains.append(chain_id, "processing")
    step = await follower.next(10, None)
    assert step is not None and seqs(step.entries) == [2]
    source.down = True
    entries, end = await drain(follower)
    assert entries == [] and end.reason is EndReason.UNAVAILABLE
    assert end.done()["reason"] == "unavailable" and end.done()["chain_id"] == chain_id


async def test_a_run_gone_from_the_store_ends_as_unavailable(chains: Chains) -> None:
    chain_id = await chains.start()
    run = await chains.repository.load(chain_id)
    follower = chains.follower(chain_id, after=1, run=run)
    await chains.store.delete(keys.chain_run(chain_id))
    chains.watch.notify(chain_id)
    entries, end = await drain(follower)
    assert entries == [] and end.reason is EndReason.UNAVAILABLE and end.done()["status"] == "running"


async def test_stop_and_drain_end_without_an_end(chains: Chains) -> None:
    chain_id = await chains.start()
    stopped = chains.follower(chain_id, after=1)
    waiting = asyncio.create_task(stopped.next(10, None))
    await asyncio.sleep(0.01)
    stopped.stop()
    assert await asyncio.wait_for(waiting, WITHIN) is None
    drained = chains.follower(chain_id, after=1)
    waiting = asyncio.create_task(drained.next(10, None))
    await asyncio.sleep(0.01)
    chains.watch.close()
    assert await asyncio.wait_for(waiting, WITHIN) is None
