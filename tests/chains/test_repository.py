"""ChainRepository and ChainDefinitions on every state-store backend: create, compare-and-set with dense
history under concurrent writers, leases, listing, retention and API definitions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.chains._support import ORIGIN, T0, definition
from tests.store.store_backends import BACKENDS, build_store
from tidegate.chains.advance import cancelled, new_run, processing
from tidegate.chains.definitions import ChainDefinitions
from tidegate.chains.repository import ChainRepository
from tidegate.chains.run import ChainRun
from tidegate.clock import ManualClock
from tidegate.config.chains import ChainDefinition
from tidegate.errors import Conflict, NotFound, ValidationFailed
from tidegate.store import keys
from tidegate.store.base import StateStore


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[StateStore]:
    opened = await build_store(str(request.param), clock, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


def run_of(chain_id: str, started: timedelta = timedelta()) -> ChainRun:
    return new_run(
        chain_id=chain_id,
        definition=definition(),
        origin=ORIGIN,
        matched_rule="r",
        now=T0 + started,
        timeout_seconds=600,
    )


async def test_create_load_and_notify(store: StateStore, clock: ManualClock) -> None:
    notified: list[str] = []
    repo = ChainRepository(store, clock, retention_seconds=60, appended=notified.append)
    run = run_of("c-1")
    assert await repo.create(run)
    assert not await repo.create(run)
    assert await repo.load("c-1") == run
    assert await repo.load("unknown") is None
    assert notified == ["c-1"]


async def test_concurrent_changes_keep_seq_dense(store: StateStore, clock: ManualClock) -> None:
    """Many writers append at once; each entry lands exactly once, seq 1..n without gaps."""
    repo = ChainRepository(store, clock, retention_seconds=60)
    await repo.create(run_of("c-1"))

    def append(run: ChainRun) -> ChainRun:
        return run.appended(clock.now(), [("processing", {})])

    await asyncio.gather(*(repo.update("c-1", append) for _ in range(12)))
    loaded = await repo.load("c-1")
    assert loaded is not None
    assert [entry["seq"] for entry in loaded.history] == list(range(1, 14))


async def test_update_declined_and_missing(store: StateStore, clock: ManualClock) -> None:
    repo = ChainRepository(store, clock, retention_seconds=60)
    assert await repo.update("nope", lambda run: run) is None
    await repo.create(run_of("c-1"))
    assert await repo.update("c-1", lambda run: None) is None
    changed = await repo.update("c-1", lambda run: processing(run, T0))
    assert changed is not None and changed[1].processing and len(changed[1].history) == 2


async def test_terminal_runs_expire_after_retention(store: StateStore, clock: ManualClock) -> None:
    repo = ChainRepository(store, clock, retention_seconds=30)
    await repo.create(run_of("c-1"))
    await repo.create(run_of("c-2", timedelta(seconds=1)))
    await repo.update("c-1", lambda run: cancelled(run, None, "op", clock.now()))
    clock.advance(29)
    assert await repo.load("c-1") is not None
    clock.advance(1.5)
    assert await repo.load("c-1") is None  # past retention: gone for every endpoint
    assert [run.chain_id for run in await repo.scan()] == ["c-2"]  # running runs stay
    await store.sweep(clock.now())
    assert await store.get(keys.chain_run("c-1")) is None


async def test_scan_lists_every_run(store: StateStore, clock: ManualClock) -> None:
    repo = ChainRepository(store, clock, retention_seconds=60)
    for index in range(7):
        await repo.create(run_of(f"c-{index}", timedelta(seconds=index)))
    await store.put(keys.chain_run("broken"), b"{not json")
    assert sorted(run.chain_id for run in await repo.scan()) == [f"c-{i}" for i in range(7)]
    assert await repo.load("broken") is None


async def test_one_lease_per_start(store: StateStore, clock: ManualClock) -> None:
    repo = ChainRepository(store, clock, retention_seconds=60)
    won = await asyncio.gather(*(repo.claim_start("c-1", 1, f"o{i}".encode(), 10) for i in range(5)))
    assert won.count(True) == 1
    assert await repo.start_held("c-1", 1)
    assert not await repo.start_held("c-1", 2)
    clock.advance(11)
    assert not await repo.start_held("c-1", 1)  # a crashed holder's lease lapses
    assert await repo.claim_start("c-1", 2, b"o", 10)
    await repo.renew_start("c-1", 2, b"o", 10)
    await repo.release_start("c-1", 2, b"other")
    assert await repo.start_held("c-1", 2)
    await repo.release_start("c-1", 2, b"o")
    assert not await repo.start_held("c-1", 2)


CONFIGURED = ChainDefinition.model_validate(
    {"name": "configured", "steps": [{"name": "a", "provider": "log", "action_type": "t"}]}
)


async def test_definitions_api_and_config(store: StateStore) -> None:
    definitions = ChainDefinitions([CONFIGURED], store, frozenset({"log", "webhook"}))
    other = ChainDefinitions([CONFIGURED], store, frozenset({"log", "webhook"}))  # another instance
    body = {"steps": [{"name": "a", "provider": "webhook", "action_type": "t"}], "timeout_seconds": 60}
    parsed = definitions.parse("mine", body)
    assert await definitions.put(parsed) is True
    assert await definitions.put(parsed) is False
    assert "mine" in definitions.known and "configured" in definitions.known
    assert "mine" not in other.known
    await other.refresh()
    assert "mine" in other.known and list(other.known) == ["configured", "mine"] and len(other.known) == 2
    listed = [(d.definition.name, d.source) for d in await other.listing()]
    assert listed == [("configured", "config"), ("mine", "api")]
    got = await other.get("mine")
    assert got is not None and got.to_json() == {
        "name": "mine",
        "steps": [
            {
                "name": "a",
                "provider": "webhook",
                "action_type": "t",
                "payload_template": {},
                "on_failure": "abort",
                "delay_seconds": 0.0,
                "branches": [],
            }
        ],
        "timeout_seconds": 60,
        "source": "api",
    }
    with pytest.raises(Conflict, match="comes from the config"):
        await definitions.put(CONFIGURED)
    with pytest.raises(Conflict, match="comes from the config"):
        await definitions.delete("configured", frozenset())
    with pytest.raises(Conflict, match="used by a loaded rule"):
        await definitions.delete("mine", frozenset({"mine"}))
    await other.delete("mine", frozenset())
    with pytest.raises(NotFound):
        await definitions.delete("mine", frozenset())
    assert await definitions.get("mine") is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {
                "steps": [
                    {"name": "a", "provider": "log", "action_type": "t"},
                    {
                        "name": "b",
                        "provider": "log",
                        "action_type": "t",
                        "branches": [{"field": "status", "operator": "eq", "value": "x", "target": "notfy"}],
                    },
                ]
            },
            "chain 'research': steps[1].branches[0].target: unknown step 'notfy'",
        ),
        (
            {"steps": [{"name": "a", "provider": "sms", "action_type": "t"}]},
            "chain 'research': steps[0].provider: unknown provider 'sms'",
        ),
        (
            {
                "steps": [
                    {"name": "a", "provider": "log", "action_type": "t", "payload_template": "{{ x.y }}"}
                ]
            },
            "chain 'research': steps[0].payload_template: unknown template root 'x' in 'x.y'",
        ),
        (
            {"name": "other", "steps": [{"name": "a", "provider": "log", "action_type": "t"}]},
            "chain 'research': name: must equal the name in the path ('research')",
        ),
        ({"steps": []}, "chain 'research': steps: "),
        (
            {
                "steps": [
                    {"name": "a", "provider": "log", "action_type": "t", "default_next": "b"},
                    {"name": "b", "provider": "log", "action_type": "t", "default_next": "a"},
                ]
            },
            "chain 'research': steps: cycle in the step graph: a -> b -> a",
        ),
    ],
)
async def test_definition_validation_messages(body: object, message: str) -> None:
    definitions = ChainDefinitions([], _NoStore(), frozenset({"log"}))  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed) as raised:
        definitions.parse("research", body)  # type: ignore[arg-type]
    assert raised.value.message.startswith(message)


class _NoStore:
    """parse() never touches the store."""
