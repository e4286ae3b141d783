"""One chain run as stored: its state, the definition snapshot it started with, and its durable history.

State and history live together in one value, so every change is one compare-and-set that also appends
its history entries: history and state never disagree, and ``seq`` is dense by construction whichever
instance writes (features.md §16 "History"). Step response bodies are kept in the state (templates and
branches read them) but never in the history entries."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

import orjson

from tidegate.config.chains import ChainDefinition
from tidegate.model.action import Action
from tidegate.model.json import JsonObject, JsonValue
from tidegate.model.time import format_ts, parse_ts

__all__ = ["TERMINAL", "ChainRun", "ChainStatus", "StepState"]


class ChainStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


TERMINAL = frozenset(
    {ChainStatus.COMPLETED, ChainStatus.FAILED, ChainStatus.CANCELLED, ChainStatus.TIMED_OUT}
)


@dataclass(frozen=True, slots=True)
class StepState:
    """One step's state in a run (api.md §9 ``steps[]``), plus the last result templates read."""

    status: str = "pending"  # pending | running | completed | failed | skipped
    attempts: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    response_status: str | None = None  # success | failure | partial; "failure" when skipped
    error: JsonObject | None = None
    body: JsonValue = None

    def to_json(self) -> JsonObject:
        return {
            "status": self.status,
            "attempts": self.attempts,
            "started_at": _ts(self.started_at),
            "completed_at": _ts(self.completed_at),
            "response_status": self.response_status,
            "error": self.error,
            "body": self.body,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepState:
        return cls(
            status=data["status"],
            attempts=data["attempts"],
            started_at=_parse(data["started_at"]),
            completed_at=_parse(data["completed_at"]),
            response_status=data["response_status"],
            error=data["error"],
            body=data["body"],
        )


@dataclass(frozen=True, slots=True)
class ChainRun:
    """A run and its history. ``current_step`` is the step that runs next (or is running); ``due_at`` is
    when its next attempt may start (None while an attempt is in flight, and once terminal)."""

    chain_id: str
    definition: ChainDefinition
    origin: Action
    matched_rule: str | None
    status: str
    started_at: datetime
    updated_at: datetime
    expires_at: datetime
    timeout_seconds: int
    completed_at: datetime | None = None
    current_step: str | None = None
    due_at: datetime | None = None
    attempt: int = 0  # number of the latest attempt of current_step
    failures: int = 0  # failed attempts of current_step that count against its retry
    in_flight: bool = False
    step_started_at: datetime | None = None
    starts: int = 0  # attempts started in the run: numbers the per-attempt leases
    processing: bool = False
    prev_step: str | None = None  # the step that ran last on the execution path (templates' ``prev``)
    steps: dict[str, StepState] = dataclasses.field(default_factory=dict)
    execution_path: tuple[str, ...] = ()
    cancel_reason: str | None = None
    cancelled_by: str | None = None
    history: tuple[JsonObject, ...] = ()

    # -- read side --------------------------------------------------------------------------------

    @property
    def chain_name(self) -> str:
        return self.definition.name

    @property
    def namespace(self) -> str:
        return self.origin.namespace

    @property
    def tenant(self) -> str:
        return self.origin.tenant

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def total_steps(self) -> int:
        return len(self.definition.steps)

    @property
    def last_seq(self) -> int:
        return len(self.history)

    def step_index(self, name: str) -> int:
        return next(i for i, step in enumerate(self.definition.steps) if step.name == name)

    def step_state(self, name: str) -> StepState:
        return self.steps.get(name, StepState())

    def summary(self) -> JsonObject:
        """The api.md §9 ``ChainSummary`` wire object."""
        running = not self.terminal and self.current_step is not None
        return {
            "chain_id": self.chain_id,
            "execution_id": self.chain_id,
            "chain_name": self.chain_name,
            "namespace": self.namespace,
            "tenant": self.tenant,
            "status": self.status,
            "current_step": self.current_step if running else None,
            "current_step_index": self.step_index(self.current_step)
            if running and self.current_step
            else None,
            "total_steps": self.total_steps,
            "origin_action_id": self.origin.id,
            "started_at": format_ts(self.started_at),
            "updated_at": format_ts(self.updated_at),
            "completed_at": _ts(self.completed_at),
        }

    def detail(self) -> JsonObject:
        """The api.md §9 ``ChainDetail``: the summary plus steps, execution path and cancellation."""
        steps: list[JsonValue] = []
        for index, step in enumerate(self.definition.steps):
            state = self.step_state(step.name)
            steps.append(
                {
                    "name": step.name,
                    "index": index,
                    "provider": step.provider,
                    "action_type": step.action_type,
                    "status": state.status,
                    "attempts": state.attempts,
                    "started_at": _ts(state.started_at),
                    "completed_at": _ts(state.completed_at),
                    "response_status": state.response_status,
                    "error": state.error,
                }
            )
        return {
            **self.summary(),
            "steps": steps,
            "execution_path": list(self.execution_path),
            "cancel_reason": self.cancel_reason,
            "cancelled_by": self.cancelled_by,
        }

    # -- write side (pure) ------------------------------------------------------------------------

    def replace(self, **changes: Any) -> ChainRun:
        return dataclasses.replace(self, **changes)

    def with_step(self, name: str, **changes: Any) -> dict[str, StepState]:
        return {**self.steps, name: dataclasses.replace(self.step_state(name), **changes)}

    def appended(self, now: datetime, entries: Sequence[tuple[str, JsonObject]], **changes: Any) -> ChainRun:
        """The run after ``changes``, one history entry per ``(type, fields)``, seq continuing densely."""
        history = list(self.history)
        for entry_type, fields in entries:
            entry: JsonObject = {
                "execution_id": self.chain_id,
                "seq": len(history) + 1,
                "timestamp": format_ts(now),
                "type": entry_type,
            }
            entry.update(fields)
            history.append(entry)
        return dataclasses.replace(self, history=tuple(history), updated_at=now, **changes)

    # -- storage ----------------------------------------------------------------------------------

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "v": 1,
                "chain_id": self.chain_id,
                "definition": self.definition.model_dump(mode="json", exclude_none=True),
                "origin": self.origin.to_json(),
                "matched_rule": self.matched_rule,
                "status": self.status,
                "started_at": format_ts(self.started_at),
                "updated_at": format_ts(self.updated_at),
                "expires_at": format_ts(self.expires_at),
                "timeout_seconds": self.timeout_seconds,
                "completed_at": _ts(self.completed_at),
                "current_step": self.current_step,
                "due_at": _ts(self.due_at),
                "attempt": self.attempt,
                "failures": self.failures,
                "in_flight": self.in_flight,
                "step_started_at": _ts(self.step_started_at),
                "starts": self.starts,
                "processing": self.processing,
                "prev_step": self.prev_step,
                "steps": {name: state.to_json() for name, state in self.steps.items()},
                "execution_path": list(self.execution_path),
                "cancel_reason": self.cancel_reason,
                "cancelled_by": self.cancelled_by,
                "history": list(self.history),
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> ChainRun:
        """Raises ValueError, KeyError or TypeError (or pydantic's ValidationError) on a malformed value."""
        data = cast(dict[str, Any], orjson.loads(raw))
        return cls(
            chain_id=data["chain_id"],
            definition=ChainDefinition.model_validate(data["definition"]),
            origin=Action.from_json(data["origin"]),
            matched_rule=data["matched_rule"],
            status=data["status"],
            started_at=parse_ts(data["started_at"]),
            updated_at=parse_ts(data["updated_at"]),
            expires_at=parse_ts(data["expires_at"]),
            timeout_seconds=data["timeout_seconds"],
            completed_at=_parse(data["completed_at"]),
            current_step=data["current_step"],
            due_at=_parse(data["due_at"]),
            attempt=data["attempt"],
            failures=data["failures"],
            in_flight=data["in_flight"],
            step_started_at=_parse(data["step_started_at"]),
            starts=data["starts"],
            processing=data["processing"],
            prev_step=data["prev_step"],
            steps={name: StepState.from_json(state) for name, state in data["steps"].items()},
            execution_path=tuple(data["execution_path"]),
            cancel_reason=data["cancel_reason"],
            cancelled_by=data["cancelled_by"],
            history=tuple(data["history"]),
        )


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_ts(value)


def _parse(value: str | None) -> datetime | None:
    return None if value is None else parse_ts(value)
