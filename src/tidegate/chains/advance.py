"""How a run moves (features.md §16 "Run"), as pure functions of the run, a result and ``now``.

Each function returns the next ``ChainRun`` with its history entries appended (stream.md §2.3), or None
when the change no longer applies (a stale result, a run already terminal): the engine writes the value
with one compare-and-set and re-applies the function to the fresh run when another change came first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tidegate.chains.run import ChainRun, ChainStatus, StepState
from tidegate.chains.templates import StepResult, TemplateContext
from tidegate.config.chains import ChainBranch, ChainDefinition, ChainStep, StepRetry
from tidegate.model.action import Action
from tidegate.model.json import JsonObject, JsonValue
from tidegate.rules.operators import build_test

__all__ = [
    "AttemptResult",
    "branch_holds",
    "cancelled",
    "new_run",
    "next_step",
    "processing",
    "recorded",
    "retry_delay",
    "started",
    "template_context",
    "timed_out",
]


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """One attempt's result: ``completed`` (executed or rerouted, any response status), else failed."""

    completed: bool
    response_status: str | None = None  # success | failure | partial, when completed
    body: JsonValue = None
    error: JsonObject | None = None  # {"code","message","retryable"}, when failed
    retryable: bool = False  # failed retryable, or circuit_open


def new_run(
    *,
    chain_id: str,
    definition: ChainDefinition,
    origin: Action,
    matched_rule: str | None,
    now: datetime,
    timeout_seconds: int,
) -> ChainRun:
    """The run a ``chain`` verdict creates: ``initiated`` (seq 1), first step due after its delay."""
    first = definition.steps[0]
    run = ChainRun(
        chain_id=chain_id,
        definition=definition,
        origin=origin,
        matched_rule=matched_rule,
        status=ChainStatus.RUNNING.value,
        started_at=now,
        updated_at=now,
        expires_at=now + timedelta(seconds=timeout_seconds),
        timeout_seconds=timeout_seconds,
        current_step=first.name,
        due_at=now + timedelta(seconds=first.delay_seconds),
    )
    fields: JsonObject = {
        "chain_name": definition.name,
        "total_steps": len(definition.steps),
        "first_step": first.name,
        "origin_action_id": origin.id,
    }
    return run.appended(now, [("initiated", fields)])


def processing(run: ChainRun, now: datetime) -> ChainRun | None:
    """The first pickup by a worker, once, before the first ``step_start``."""
    if run.terminal or run.processing:
        return None
    return run.appended(now, [("processing", {})], processing=True)


def started(run: ChainRun, start: int, now: datetime) -> ChainRun | None:
    """Attempt ``attempt + 1`` of the current step begins; ``start`` is the lease number it was claimed
    under (the run's next), so two instances can never both start it. An attempt that was in flight
    (its holder crashed) is replaced and does not count against retry (§16 step 6)."""
    if run.terminal or run.current_step is None or run.starts + 1 != start or not run.processing:
        return None
    step = _step(run, run.current_step)
    attempt = run.attempt + 1
    fields: JsonObject = {
        "step_name": step.name,
        "step_index": run.step_index(step.name),
        "attempt": attempt,
        "provider": step.provider,
        "action_type": step.action_type,
    }
    state = run.step_state(step.name)
    return run.appended(
        now,
        [("step_start", fields)],
        attempt=attempt,
        in_flight=True,
        due_at=None,
        starts=start,
        step_started_at=now,
        steps=run.with_step(
            step.name, status="running", attempts=attempt, started_at=state.started_at or now
        ),
    )


def recorded(run: ChainRun, start: int, result: AttemptResult, now: datetime) -> ChainRun | None:
    """The run after the result of the attempt started as ``start``; None when that attempt is no
    longer the one in flight (a crashed holder was replaced). After a cancel or timeout the result is
    recorded after the terminal entry and nothing advances."""
    if not run.in_flight or run.starts != start or run.current_step is None:
        return None
    step = _step(run, run.current_step)
    if run.terminal:
        return _recorded_late(run, step, result, now)
    if result.completed:
        return _completed(run, step, result, now)
    retry = step.retry
    failures = run.failures + 1
    if result.retryable and retry is not None and failures <= retry.max_retries:
        delay = retry_delay(retry, run.attempt)
        fields: JsonObject = {
            "step_name": step.name,
            "step_index": run.step_index(step.name),
            "attempt": run.attempt,
            "error": result.error,
            "retry_in_ms": round(delay * 1000),
        }
        return run.appended(
            now,
            [("step_retrying", fields)],
            failures=failures,
            in_flight=False,
            due_at=now + timedelta(seconds=delay),
            steps=run.with_step(step.name, error=result.error),
        )
    if step.on_failure == "skip":
        return _skipped(run, step, result, now)
    return _failed(run, step, result, now)


def cancelled(run: ChainRun, reason: str | None, by: str, now: datetime) -> ChainRun | None:
    if run.terminal:
        return None
    fields: JsonObject = {"reason": reason, "cancelled_by": by, "execution_path": list(run.execution_path)}
    return _terminal(
        run, ChainStatus.CANCELLED, now, [("cancelled", fields)], cancel_reason=reason, cancelled_by=by
    )


def timed_out(run: ChainRun, now: datetime) -> ChainRun | None:
    """The run once ``now`` reached ``expires_at`` (§16 step 4)."""
    if run.terminal or now < run.expires_at:
        return None
    fields: JsonObject = {"timeout_seconds": run.timeout_seconds, "execution_path": list(run.execution_path)}
    return _terminal(run, ChainStatus.TIMED_OUT, now, [("timed_out", fields)])


def retry_delay(retry: StepRetry, attempt: int) -> float:
    """min(max_backoff_seconds, backoff_seconds × multiplier^(attempt−1)), attempt = the one that failed."""
    try:
        scheduled = retry.backoff_seconds * retry.multiplier ** max(0, attempt - 1)
    except OverflowError:
        scheduled = retry.max_backoff_seconds
    return min(retry.max_backoff_seconds, scheduled)


def branch_holds(branch: ChainBranch, result: StepResult) -> bool:
    """rules.md §7 semantics on ``status``, ``body`` or ``body.<path>`` of the result (absent = None)."""
    value: JsonValue
    if branch.field == "status":
        value = result.status
    elif branch.field == "body":
        value = result.body
    else:
        value = result.body
        for segment in branch.field[5:].split("."):
            if isinstance(value, dict):
                value = value.get(segment)
            elif isinstance(value, list) and segment.isascii() and segment.isdigit():
                index = int(segment)
                value = value[index] if index < len(value) else None
            else:
                value = None
    return build_test(branch.operator, branch.value)(value)


def next_step(definition: ChainDefinition, step: ChainStep, result: StepResult | None) -> str | None:
    """The first branch that holds (``result`` None: a skipped step, branches not evaluated), else
    ``default_next``, else the next step in the list; None at the end."""
    if result is not None:
        for branch in step.branches:
            if branch_holds(branch, result):
                return branch.target
    if step.default_next is not None:
        return step.default_next
    names = [s.name for s in definition.steps]
    index = names.index(step.name)
    return names[index + 1] if index + 1 < len(names) else None


def template_context(run: ChainRun, step_name: str) -> TemplateContext:
    ran = {
        name: StepResult(state.response_status, state.body)
        for name, state in run.steps.items()
        if state.response_status is not None and state.status in ("completed", "skipped")
    }
    prev = (run.prev_step, ran[run.prev_step]) if run.prev_step in ran and run.prev_step else None
    return TemplateContext(
        origin=run.origin.to_json(),
        chain_id=run.chain_id,
        chain_name=run.chain_name,
        step_index=run.step_index(step_name),
        step_names=[s.name for s in run.definition.steps],
        prev=prev,
        steps=ran,
    )


# -- helpers ------------------------------------------------------------------------------------


def _step(run: ChainRun, name: str) -> ChainStep:
    step = run.definition.step(name)
    if step is None:
        raise ValueError(f"chain {run.chain_id}: no step '{name}' in its definition")
    return step


def _duration_ms(since: datetime | None, now: datetime) -> int:
    return 0 if since is None else max(0, round((now - since).total_seconds() * 1000))


def _progress(steps: dict[str, StepState], total: int) -> float:
    done = sum(1 for state in steps.values() if state.status in ("completed", "skipped"))
    return done / total


def _terminal(
    run: ChainRun,
    status: ChainStatus,
    now: datetime,
    entries: list[tuple[str, JsonObject]],
    **changes: object,
) -> ChainRun:
    if not run.in_flight:  # an attempt in flight keeps its step: its result is recorded later
        changes = {"current_step": None, **changes}
    return run.appended(now, entries, status=status.value, completed_at=now, due_at=None, **changes)


def _advance(
    run: ChainRun,
    step: ChainStep,
    following: str | None,
    now: datetime,
    entries: list[tuple[str, JsonObject]],
    steps: dict[str, StepState],
) -> ChainRun:
    path = (*run.execution_path, step.name)
    common: dict[str, object] = {
        "steps": steps,
        "execution_path": path,
        "prev_step": step.name,
        "in_flight": False,
        "attempt": 0,
        "failures": 0,
        "step_started_at": None,
    }
    if following is None:
        done: JsonObject = {"duration_ms": _duration_ms(run.started_at, now), "execution_path": list(path)}
        return run.appended(
            now,
            [*entries, ("completed", done)],
            status=ChainStatus.COMPLETED.value,
            completed_at=now,
            current_step=None,
            due_at=None,
            **common,
        )
    delay = _step(run, following).delay_seconds
    return run.appended(now, entries, current_step=following, due_at=now + timedelta(seconds=delay), **common)


def _completed(run: ChainRun, step: ChainStep, result: AttemptResult, now: datetime) -> ChainRun:
    status = result.response_status or "success"
    following = next_step(run.definition, step, StepResult(status, result.body))
    steps = run.with_step(
        step.name, status="completed", completed_at=now, response_status=status, error=None, body=result.body
    )
    fields: JsonObject = {
        "step_name": step.name,
        "step_index": run.step_index(step.name),
        "attempt": run.attempt,
        "duration_ms": _duration_ms(run.step_started_at, now),
        "response_status": status,
        "next_step": following,
        "progress": _progress(steps, run.total_steps),
    }
    return _advance(run, step, following, now, [("step_complete", fields)], steps)


def _skipped(run: ChainRun, step: ChainStep, result: AttemptResult, now: datetime) -> ChainRun:
    following = next_step(run.definition, step, None)
    steps = run.with_step(
        step.name,
        status="skipped",
        completed_at=now,
        response_status="failure",
        error=result.error,
        body=None,
    )
    fields: JsonObject = {
        "step_name": step.name,
        "step_index": run.step_index(step.name),
        "attempt": run.attempt,
        "error": result.error,
        "next_step": following,
    }
    return _advance(run, step, following, now, [("step_skipped", fields)], steps)


def _failed(run: ChainRun, step: ChainStep, result: AttemptResult, now: datetime) -> ChainRun:
    path = (*run.execution_path, step.name)
    entries: list[tuple[str, JsonObject]] = [
        (
            "step_failed",
            {
                "step_name": step.name,
                "step_index": run.step_index(step.name),
                "attempt": run.attempt,
                "error": result.error,
            },
        ),
        ("failed", {"failed_step": step.name, "error": result.error, "execution_path": list(path)}),
    ]
    return run.appended(
        now,
        entries,
        status=ChainStatus.FAILED.value,
        completed_at=now,
        current_step=None,
        due_at=None,
        in_flight=False,
        execution_path=path,
        steps=run.with_step(step.name, status="failed", completed_at=now, error=result.error),
    )


def _recorded_late(run: ChainRun, step: ChainStep, result: AttemptResult, now: datetime) -> ChainRun:
    """An attempt in flight at cancellation or timeout: its result goes after the terminal entry."""
    index = run.step_index(step.name)
    if result.completed:
        status = result.response_status or "success"
        steps = run.with_step(
            step.name, status="completed", completed_at=now, response_status=status, body=result.body
        )
        fields: JsonObject = {
            "step_name": step.name,
            "step_index": index,
            "attempt": run.attempt,
            "duration_ms": _duration_ms(run.step_started_at, now),
            "response_status": status,
            "next_step": None,
            "progress": _progress(steps, run.total_steps),
        }
        entry = ("step_complete", fields)
    else:
        steps = run.with_step(step.name, status="failed", completed_at=now, error=result.error)
        entry = (
            "step_failed",
            {"step_name": step.name, "step_index": index, "attempt": run.attempt, "error": result.error},
        )
    return run.appended(now, [entry], in_flight=False, current_step=None, steps=steps)
