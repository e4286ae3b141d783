"""The record step when the event log refuses an append (features.md §11 "Write failures"): the action
took effect, so its events go to the spool, in order, and reach the log once it answers; with no spool
the failure surfaces (503) rather than a 200 for an event that was never appended."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.stream._events import make_event
from tests.stream.log_backends import FlakyLog
from tidegate.audit.memory import MemoryAuditStore
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.metrics import Metrics
from tidegate.model.action import Action
from tidegate.model.caller import ANONYMOUS
from tidegate.model.event import EventType
from tidegate.model.outcome import Suppressed
from tidegate.pipeline.recorder import Recorder
from tidegate.stream.spool import EventSpool

START = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)


def recorder(log: FlakyLog, spool: EventSpool | None) -> Recorder:
    return Recorder(
        audit=MemoryAuditStore(),
        events=log,
        metrics=Metrics(),
        clock=ManualClock(START),
        redact=lambda payload: payload,
        store_payload=True,
        retention_days=30,
        spool=None,
        event_spool=spool,
    )


async def record(target: Recorder, action_id: str) -> None:
    action = Action(
        id=action_id,
        namespace="notifications",
        tenant="acme",
        provider="email",
        action_type="send",
        payload={},
        created_at=START,
    )
    await target.record(
        action=action,
        provider="email",
        verdict="suppress",
        matched_rule="r",
        outcome=Suppressed("r"),
        caller=ANONYMOUS,
        dispatched_at=START,
        before=[make_event(action_id=action_id)],
    )


async def test_refused_events_are_spooled_in_order_and_appended_once_the_log_answers(
    tmp_path: Path,
) -> None:
    log, spool = FlakyLog(), EventSpool(tmp_path / "events-spool.jsonl")
    target = recorder(log, spool)
    log.down = True
    await record(target, "a-1")  # no error: the action took effect, its events are kept
    log.down = False
    await record(target, "a-2")  # the log answers, but a-1's events wait: a-2 queues behind them
    assert log.retained() == []
    assert await spool.replay(log) == 4
    kinds = [(event.action_id, event.type) for event in log.retained()]
    assert kinds == [
        ("a-1", EventType.GROUP_FLUSHED),
        ("a-1", EventType.ACTION_DISPATCHED),
        ("a-2", EventType.GROUP_FLUSHED),
        ("a-2", EventType.ACTION_DISPATCHED),
    ]
    await record(target, "a-3")  # spool drained: straight to the log again
    assert [event.action_id for event in log.retained()][-2:] == ["a-3", "a-3"]
    assert spool.is_empty()


async def test_without_a_spool_a_refused_append_fails_the_record() -> None:
    log = FlakyLog()
    log.down = True
    with pytest.raises(BackendUnavailable):
        await record(recorder(log, None), "a-1")
