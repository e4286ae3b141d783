"""The chain engine in-process with a ManualClock: timers driven by hand, providers played by a loopback
HTTP target. Covers what a real-time server test cannot pin down: a crashed holder's lease lapsing and
the next attempt number, the per-process step cap, retention, and the first step's wake-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import make_settings
from tests.chains._support import T0
from tests.chains._target import Target
from tidegate.audit.base import AuditQuery
from tidegate.chains.advance import processing, started
from tidegate.chains.service import INDEX
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable, ConfigError, NotFound
from tidegate.model.action import ActionRequest
from tidegate.model.caller import SYSTEM
from tidegate.model.outcome import ChainStarted
from tidegate.services import Services, close_services, open_services

RULES = """\
rules:
  - name: start-two
    condition: {field: action.action_type, eq: run_two}
    action: {type: chain, chain: two}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


async def open_engine(
    tmp_path: Path,
    target: Target,
    clock: ManualClock,
    rules: str = RULES,
    retry: dict[str, object] | None = None,
    **sections: object,
) -> Services:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "chains.yaml").write_text(rules)
    settings = make_settings(
        tmp_path,
        providers=[
            {"name": "log", "type": "log"},
            {"name": "one", "type": "webhook", "url": target.url("/one")},
            {"name": "two", "type": "webhook", "url": target.url("/two")},
        ],
        chains={
            "completed_retention_seconds": 30,
            "definitions": [
                {
                    "name": "two",
                    "steps": [
                        {
                            "name": "first",
                            "provider": "one",
                            "action_type": "a",
                            "payload_template": "{{origin.id}}",
                            **({"retry": retry} if retry else {}),
                        },
                        {"name": "second", "provider": "two", "action_type": "b"},
                    ],
                }
            ],
        },
        background={"enabled": False, "lease_seconds": 10, **dict(sections.pop("background", {}))},  # type: ignore[call-overload]
        **sections,
    )
    return await open_services(settings, clock, start_workers=False)


@pytest.fixture
async def services(tmp_path: Path, target: Target, clock: ManualClock) -> AsyncIterator[Services]:
    opened = await open_engine(tmp_path, target, clock)
    try:
        yield opened
    finally:
        await close_services(opened)


async def dispatch(services: Services, clock: ManualClock) -> str:
    action = ActionRequest.model_validate(
        {"namespace": "ns", "tenant": "t", "provider": "log", "action_type": "run_two", "payload": {}}
    ).normalize(clock.now())
    result = await services.gateway.dispatch(action, SYSTEM)
    assert isinstance(result.outcome, ChainStarted)
    return result.outcome.chain_id


async def settle(services: Services) -> None:
    """Let the step tasks this instance started finish."""
    async with asyncio.timeout(10):
        while services.chains.running_steps:  # noqa: ASYNC110 - the engine offers no completion event
            await asyncio.sleep(0.01)


async def test_steps_run_only_when_the_timers_fire(
    services: Services, clock: ManualClock, target: Target
) -> None:
    chain_id = await dispatch(services, clock)
    run = await services.chains.repository.load(chain_id)
    assert run is not None and [e["type"] for e in run.history] == ["initiated"]
    assert target.received("/one") == []  # nothing inline (D14)
    await services.timers.tick()
    await settle(services)
    await services.timers.tick()
    await settle(services)
    run = await services.chains.repository.load(chain_id)
    assert run is not None and run.status == "completed"
    assert [body["payload"] for body in target.received("/one")] == [run.origin.id]
    assert len(target.received("/two")) == 1


async def test_an_ended_run_drops_its_timeout_member(
    services: Services, clock: ManualClock, target: Target
) -> None:
    """The timeout member would otherwise stay armed (and its in-process wake-up held) until expires_at,
    a day by default, for every run that already ended."""
    chain_id = await dispatch(services, clock)
    far = clock.now() + timedelta(days=30)

    def timeouts(due: list[tuple[str, object]]) -> list[str]:
        return [member for member, _ in due if member.startswith(f"{chain_id}/timeout")]

    assert len(timeouts(await services.store.due(INDEX, far, limit=1000))) == 1
    for _ in range(2):
        await services.timers.tick()
        await settle(services)
    run = await services.chains.repository.load(chain_id)
    assert run is not None and run.status == "completed"
    assert timeouts(await services.store.due(INDEX, far, limit=1000)) == []


async def test_a_crashed_holder_is_replaced_with_the_next_attempt(
    services: Services, clock: ManualClock, target: Target
) -> None:
    chain_id = await dispatch(services, clock)
    repo = services.chains.repository
    # What a crashed instance leaves behind: the lease of start 1 and a step_start, then nothing.
    assert await repo.claim_start(chain_id, 1, b"crashed", 10)
    await repo.update(chain_id, lambda r: processing(r, clock.now()))
    await repo.update(chain_id, lambda r: started(r, 1, clock.now()))
    await services.timers.tick()  # the first step's member: the attempt is in flight and its lease held
    await settle(services)
    assert target.received("/one") == []
    clock.advance(11)  # the lease lapses; the watchdog member (now + lease) is due
    await services.timers.tick()
    await settle(services)
    run = await repo.load(chain_id)
    assert run is not None
    starts = [e for e in run.history if e["type"] == "step_start"]
    assert [(e["step_name"], e["attempt"]) for e in starts][:2] == [("first", 1), ("first", 2)]
    assert len(target.received("/one")) == 1  # at-least-once: here the crashed one never called
    done = next(e for e in run.history if e["type"] == "step_complete")
    assert done["attempt"] == 2
    assert run.step_state("first").attempts == 2


async def test_the_step_cap_per_process(tmp_path: Path, target: Target, clock: ManualClock) -> None:
    target.answer("/one", default=(200, {}, 0.3))
    services = await open_engine(tmp_path, target, clock, background={"max_concurrent_chain_steps": 1})
    try:
        first, second = await dispatch(services, clock), await dispatch(services, clock)
        await services.timers.tick()
        assert services.chains.running_steps == 1
        runs = [await services.chains.repository.load(c) for c in (first, second)]
        assert sorted(bool(r and r.in_flight) for r in runs) == [False, True]
        for _ in range(10):  # the deferred step was re-armed a poll interval later
            await settle(services)
            clock.advance(services.settings.background.poll_interval_seconds)
            await services.timers.tick()
            assert services.chains.running_steps <= 1
        await settle(services)
        assert len(target.received("/one")) == 2 and len(target.received("/two")) == 2
        finals = [await services.chains.repository.load(c) for c in (first, second)]
        assert [r.status if r else None for r in finals] == ["completed", "completed"]
    finally:
        await close_services(services)


async def test_terminal_runs_are_gone_after_retention(services: Services, clock: ManualClock) -> None:
    chain_id = await dispatch(services, clock)
    await services.chains.cancel(chain_id, "stop", "op")
    clock.advance(29)
    assert await services.chains.repository.load(chain_id) is not None
    clock.advance(2)
    assert await services.chains.repository.load(chain_id) is None
    with pytest.raises(NotFound):
        await services.chains.cancel(chain_id, None, "op")
    await services.timers.tick()  # its scheduled members fire harmlessly


async def test_a_member_lost_in_a_crash_is_repaired(
    services: Services, clock: ManualClock, target: Target
) -> None:
    chain_id = await dispatch(services, clock)
    run = await services.chains.repository.load(chain_id)
    assert run is not None
    far = run.expires_at + timedelta(days=1)
    for member, _ in await services.store.due(INDEX, far):  # as if the armings never landed
        await services.store.unschedule(INDEX, member)
    await services.timers.tick()
    assert target.received("/one") == []
    await services.timers.arm(INDEX, f"{chain_id}/other", clock.now())  # any member of the run reconciles it
    await services.timers.tick()
    await settle(services)
    assert len(target.received("/one")) == 1


async def test_rules_naming_api_definitions_load_after_a_restart(
    tmp_path: Path, target: Target, clock: ManualClock
) -> None:
    """The API definitions are read before the rules load, so a rule may name one at startup; a rule
    naming an unknown chain stops startup."""
    services = await open_engine(tmp_path, target, clock)
    try:
        body = {"steps": [{"name": "x", "provider": "one", "action_type": "t"}]}
        await services.chains.definitions.put(services.chains.definitions.parse("adhoc", body))
    finally:
        await close_services(services)
    adhoc = RULES + (
        "  - name: start-adhoc\n    condition: {field: action.action_type, eq: run_adhoc}\n"
        "    action: {type: chain, chain: adhoc}\n"
    )
    restarted = await open_engine(tmp_path, target, clock, adhoc)
    try:
        assert "adhoc" in restarted.rulebook.rules.chains
    finally:
        await close_services(restarted)
    with pytest.raises(ConfigError, match="unknown chain 'nowhere'"):
        await open_engine(tmp_path, target, clock, adhoc.replace("chain: adhoc", "chain: nowhere"))


async def test_breakers_circuit_open_is_retried_and_a_fallback_completes_the_step(
    tmp_path: Path, target: Target, clock: ManualClock
) -> None:
    breakers = {"enabled": True, "failure_threshold": 1, "providers": {"two": {"fallback_provider": "log"}}}
    retry = {"max_retries": 1, "backoff_seconds": 5}
    services = await open_engine(tmp_path, target, clock, retry=retry, circuit_breaker=breakers)
    try:
        assert services.breakers is not None
        await services.breakers.trip("one")
        chain_id = await dispatch(services, clock)
        await services.timers.tick()
        await settle(services)
        run = await services.chains.repository.load(chain_id)
        assert run is not None
        retrying = run.history[-1]
        assert retrying["type"] == "step_retrying" and retrying["retry_in_ms"] == 5000
        assert retrying["error"] == {
            "code": "circuit_open",
            "message": "circuit open for provider one",
            "retryable": True,
        }
        assert target.received("/one") == []  # no provider accepted the call
        await services.breakers.reset("one")
        await services.breakers.trip("two")  # step two falls back to log: rerouted completes the step
        clock.advance(5)
        for _ in range(2):
            await services.timers.tick()
            await settle(services)
        run = await services.chains.repository.load(chain_id)
        assert run is not None and run.status == "completed", run.history
        assert len(target.received("/one")) == 1 and target.received("/two") == []
        assert services.audit is not None
        page = await services.audit.query(AuditQuery(chain_id=chain_id, limit=10))
        outcomes = sorted(
            r.outcome for r in page.records if r.verdict == "chain" and r.action_id != run.origin.id
        )
        assert outcomes == ["circuit_open", "executed", "rerouted"]
    finally:
        await close_services(services)


async def test_a_claimer_that_dies_before_starting_is_replaced(
    services: Services, clock: ManualClock, target: Target
) -> None:
    chain_id = await dispatch(services, clock)
    assert await services.chains.repository.claim_start(chain_id, 1, b"crashed", 10)  # then nothing
    await services.timers.tick()
    assert services.chains.running_steps == 0 and target.received("/one") == []
    clock.advance(11)
    await services.timers.tick()
    await settle(services)
    run = await services.chains.repository.load(chain_id)
    assert run is not None
    assert [(e["type"], e.get("attempt")) for e in run.history[:4]] == [
        ("initiated", None),
        ("processing", None),
        ("step_start", 1),
        ("step_complete", 1),
    ]
    assert len(target.received("/one")) == 1


async def test_a_run_stored_while_the_store_fails_still_ends(
    services: Services, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store goes away right after the run is written: the dispatch answers 503 and nothing else
    lands (neither the first step's member nor the cancel). The run still ends, at its timeout, instead
    of staying ``running`` forever with nothing scheduled."""
    store = services.store
    real_cas, real_schedule = store.compare_and_set, store.schedule
    down = False

    async def compare_and_set(*args: Any, **kwargs: Any) -> bool:
        nonlocal down
        if down:
            raise BackendUnavailable("state store down")
        landed = await real_cas(*args, **kwargs)
        down = True  # the run's creation landed; the store fails from now on
        return landed

    async def schedule(*args: Any, **kwargs: Any) -> None:
        if down:
            raise BackendUnavailable("state store down")
        await real_schedule(*args, **kwargs)

    monkeypatch.setattr(store, "compare_and_set", compare_and_set)
    monkeypatch.setattr(store, "schedule", schedule)
    with pytest.raises(BackendUnavailable):
        await dispatch(services, clock)
    monkeypatch.undo()
    (run,) = await services.chains.repository.scan()
    assert run.status == "running"
    clock.advance(services.settings.chains.default_timeout_seconds + 1)
    await services.timers.tick()
    await settle(services)
    ended = await services.chains.repository.load(run.chain_id)
    assert ended is not None and ended.status == "timed_out"
