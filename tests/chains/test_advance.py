"""How a run moves (features.md §16 "Run" and "History"), as pure functions: entries, seq, state."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.chains._support import ORIGIN, T0, definition
from tidegate.chains.advance import (
    AttemptResult,
    branch_holds,
    cancelled,
    new_run,
    next_step,
    processing,
    recorded,
    retry_delay,
    started,
    template_context,
    timed_out,
)
from tidegate.chains.events import stream_events
from tidegate.chains.run import ChainRun
from tidegate.chains.templates import StepResult
from tidegate.config.chains import ChainBranch, ChainDefinition, StepRetry
from tidegate.model.event import EventType

OK = AttemptResult(True, "success", {"count": 3})
FAIL = AttemptResult(
    False, error={"code": "execution_failed", "message": "HTTP 503", "retryable": True}, retryable=True
)
FATAL = AttemptResult(False, error={"code": "execution_failed", "message": "HTTP 400", "retryable": False})


def fresh(d: ChainDefinition | None = None) -> ChainRun:
    return new_run(
        chain_id="c-1",
        definition=d or definition(),
        origin=ORIGIN,
        matched_rule="start-research",
        now=T0,
        timeout_seconds=600,
    )


def begin(run: ChainRun, now: datetime = T0) -> ChainRun:
    if not run.processing:
        moved = processing(run, now)
        assert moved is not None
        run = moved
    after = started(run, run.starts + 1, now)
    assert after is not None
    return after


def finish(run: ChainRun, result: AttemptResult, now: datetime) -> ChainRun:
    after = recorded(run, run.starts, result, now)
    assert after is not None
    return after


def types(run: ChainRun) -> list[str]:
    return [str(entry["type"]) for entry in run.history]


def test_a_run_from_start_to_completion() -> None:
    run = fresh()
    assert run.history[0] == {
        "execution_id": "c-1",
        "seq": 1,
        "timestamp": "2026-02-07T14:30:00.000000Z",
        "type": "initiated",
        "chain_name": "research",
        "total_steps": 3,
        "first_step": "search",
        "origin_action_id": "origin-1",
    }
    assert run.due_at == T0 and run.expires_at == T0 + timedelta(seconds=600)
    run = begin(run)
    assert run.in_flight and run.attempt == 1 and run.due_at is None
    run = finish(run, OK, T0 + timedelta(seconds=1))
    assert run.current_step == "summarize" and run.due_at == T0 + timedelta(seconds=6)  # its delay
    run = finish(begin(run, T0 + timedelta(seconds=6)), OK, T0 + timedelta(seconds=8))
    run = finish(
        begin(run, T0 + timedelta(seconds=8)), AttemptResult(True, "partial", None), T0 + timedelta(seconds=9)
    )
    assert types(run) == [
        "initiated",
        "processing",
        "step_start",
        "step_complete",
        "step_start",
        "step_complete",
        "step_start",
        "step_complete",
        "completed",
    ]
    assert [entry["seq"] for entry in run.history] == list(range(1, 10))
    assert run.status == "completed" and run.terminal and run.completed_at == T0 + timedelta(seconds=9)
    assert run.history[3] == {
        "execution_id": "c-1",
        "seq": 4,
        "timestamp": "2026-02-07T14:30:01.000000Z",
        "type": "step_complete",
        "step_name": "search",
        "step_index": 0,
        "attempt": 1,
        "duration_ms": 1000,
        "response_status": "success",
        "next_step": "summarize",
        "progress": pytest.approx(1 / 3),
    }
    assert run.history[-1]["execution_path"] == ["search", "summarize", "email"]
    assert run.history[-1]["duration_ms"] == 9000
    assert run.history[-2]["response_status"] == "partial"
    summary = run.summary()
    assert summary["current_step"] is None and summary["current_step_index"] is None
    assert [step["status"] for step in run.detail()["steps"]] == ["completed"] * 3  # type: ignore[index]


def test_processing_is_appended_once() -> None:
    run = begin(fresh())
    assert processing(run, T0) is None


def test_a_start_needs_the_next_lease_number() -> None:
    run = processing(fresh(), T0)
    assert run is not None
    assert started(run, 2, T0) is None  # not the next start
    run = begin(run)
    assert started(run, 1, T0) is None  # that start was taken


def test_retry_then_success_with_the_backoff_formula() -> None:
    retry = {"max_retries": 2, "backoff_seconds": 0.5, "multiplier": 3, "max_backoff_seconds": 1.0}
    run = begin(fresh(definition(retry=retry)))
    run = finish(run, FAIL, T0)
    assert run.history[-1]["type"] == "step_retrying" and run.history[-1]["retry_in_ms"] == 500
    assert run.due_at == T0 + timedelta(seconds=0.5) and not run.in_flight
    run = finish(begin(run), FAIL, T0)
    assert run.history[-1]["retry_in_ms"] == 1000  # min(1.0, 0.5 * 3) capped
    assert run.history[-1]["attempt"] == 2
    run = finish(begin(run), OK, T0)
    assert types(run)[-2:] == ["step_start", "step_complete"]
    assert run.history[-1]["attempt"] == 3
    assert run.step_state("search").attempts == 3


@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (200, 10.0)]
)
def test_retry_delay(attempt: int, expected: float) -> None:
    retry = StepRetry(max_retries=5, backoff_seconds=1, multiplier=2, max_backoff_seconds=10)
    assert retry_delay(retry, attempt) == expected


def test_retries_exhausted_abort_fails_the_run() -> None:
    run = begin(fresh(definition(retry={"max_retries": 1, "backoff_seconds": 0.1})))
    run = finish(begin(finish(run, FAIL, T0)), FAIL, T0)
    assert types(run)[-2:] == ["step_failed", "failed"]
    assert run.history[-1] == {
        **{k: run.history[-1][k] for k in ("execution_id", "seq", "timestamp", "type")},
        "failed_step": "search",
        "error": FAIL.error,
        "execution_path": ["search"],
    }
    assert run.status == "failed" and run.step_state("search").status == "failed"


def test_a_non_retryable_failure_is_not_retried() -> None:
    run = finish(begin(fresh(definition(retry={"max_retries": 3}))), FATAL, T0)
    assert types(run)[-2:] == ["step_failed", "failed"]


def test_skip_continues_without_branches() -> None:
    branches = [{"field": "status", "operator": "eq", "value": "failure", "target": "email"}]
    run = finish(begin(fresh(definition(on_failure="skip", branches=branches))), FATAL, T0)
    assert run.history[-1]["type"] == "step_skipped"
    assert run.history[-1]["next_step"] == "summarize"  # branches are not evaluated for a skipped step
    assert run.current_step == "summarize" and run.status == "running"
    context = template_context(run, "summarize")
    assert context.prev == ("search", StepResult("failure", None))


def test_branches_pick_the_first_that_holds() -> None:
    branches = [
        {"field": "body.count", "operator": "gt", "value": 10, "target": "email"},
        {"field": "body.count", "operator": "gte", "value": 3, "target": "email"},
    ]
    run = finish(begin(fresh(definition(branches=branches))), OK, T0)
    assert run.current_step == "email" and run.history[-1]["next_step"] == "email"
    run = finish(begin(run), OK, T0)
    assert run.history[-1]["execution_path"] == ["search", "email"]


def test_default_next() -> None:
    run = finish(begin(fresh(definition(default_next="email"))), OK, T0)
    assert run.current_step == "email"


@pytest.mark.parametrize(
    ("field", "operator", "value", "result", "holds"),
    [
        ("status", "eq", "success", StepResult("success", None), True),
        ("status", "ne", "success", StepResult("failure", None), True),
        ("body", "exists", False, StepResult("success", None), True),
        ("body.a.0", "eq", 1, StepResult("success", {"a": [1]}), True),
        ("body.a", "contains", 2, StepResult("success", {"a": [1, 2]}), True),
        ("body.s", "matches", "^x", StepResult("success", {"s": "xy"}), True),
        ("body.n", "lt", 5, StepResult("success", {"n": "3"}), False),  # no conversion
        ("body.n", "ne", 5, StepResult("success", {}), False),  # absent: ne is false
        ("body.n", "eq", None, StepResult("success", {}), True),  # absent: eq null is true
    ],
)
def test_branch_operators(field: str, operator: str, value: object, result: StepResult, holds: bool) -> None:
    branch = ChainBranch.model_validate({"field": field, "operator": operator, "value": value, "target": "x"})
    assert branch_holds(branch, result) is holds


def test_next_step_at_the_end_is_none() -> None:
    d = definition()
    assert next_step(d, d.steps[2], StepResult("success")) is None


def test_cancel_mid_step_records_the_late_result_after_the_terminal_entry() -> None:
    run = begin(fresh())
    run2 = cancelled(run, "superseded", "op-1", T0)
    assert run2 is not None
    assert run2.history[-1] == {
        **{k: run2.history[-1][k] for k in ("execution_id", "seq", "timestamp", "type")},
        "reason": "superseded",
        "cancelled_by": "op-1",
        "execution_path": [],
    }
    assert cancelled(run2, None, "op-1", T0) is None
    late = finish(run2, OK, T0)
    assert types(late)[-2:] == ["cancelled", "step_complete"]
    assert late.history[-1]["next_step"] is None and late.status == "cancelled"
    assert not late.in_flight and late.current_step is None
    assert recorded(late, late.starts, OK, T0) is None  # recorded once
    # the late entry produces no /v1/stream event; the cancel produced chain_completed
    assert stream_events(late, late.history[-1:], T0) == []
    events = stream_events(run2, run2.history[-1:], T0)
    assert [e.type for e in events] == [EventType.CHAIN_COMPLETED]
    assert events[0].fields == {"chain_id": "c-1", "status": "cancelled", "execution_path": []}


def test_timeout() -> None:
    run = fresh()
    assert timed_out(run, T0 + timedelta(seconds=599)) is None
    out = timed_out(run, T0 + timedelta(seconds=600))
    assert out is not None and out.status == "timed_out"
    assert out.history[-1]["timeout_seconds"] == 600 and out.history[-1]["execution_path"] == []


def test_a_replaced_attempt_does_not_count_against_retry() -> None:
    run = begin(fresh(definition(retry={"max_retries": 1, "backoff_seconds": 0.1})))
    run = begin(run)  # the holder of attempt 1 crashed: attempt 2 starts under the next lease
    assert run.attempt == 2 and run.failures == 0
    assert recorded(run, run.starts - 1, OK, T0) is None  # the crashed attempt's result is dropped
    run = finish(run, FAIL, T0)
    assert run.history[-1]["type"] == "step_retrying"  # one retry still left


def test_stream_events_follow_the_mapping() -> None:
    run = begin(fresh())
    events = stream_events(run, run.history[-1:], T0)
    assert [e.type for e in events] == [EventType.CHAIN_ADVANCED]
    assert events[0].to_json() | {"id": "x"} == {
        "id": "x",
        "timestamp": "2026-02-07T14:30:00.000000Z",
        "type": "chain_advanced",
        "chain_id": "c-1",
        "chain_name": "research",
        "step_name": "search",
        "step_index": 0,
        "step_status": "started",
        "attempt": 1,
        "namespace": "research",
        "tenant": "acme",
    }
    done = finish(run, OK, T0)
    kinds = [(e.type, e.fields.get("step_status")) for e in stream_events(done, done.history[-1:], T0)]
    assert kinds == [(EventType.CHAIN_ADVANCED, "completed"), (EventType.CHAIN_STEP_COMPLETED, None)]
    failed = finish(begin(fresh()), FATAL, T0)
    mapped = stream_events(failed, failed.history[-2:], T0)
    assert [e.type for e in mapped] == [
        EventType.CHAIN_ADVANCED,
        EventType.CHAIN_STEP_COMPLETED,
        EventType.CHAIN_COMPLETED,
    ]
    assert mapped[1].fields == {
        "chain_id": "c-1",
        "step_name": "search",
        "step_index": 0,
        "success": False,
        "next_step": None,
    }
    assert stream_events(fresh(), fresh().history, T0) == []  # initiated gives none


def test_encode_decode_round_trip() -> None:
    run = finish(begin(fresh(definition(retry={"max_retries": 1}))), OK, T0)
    assert ChainRun.decode(run.encode()) == run
