"""The pure decisions of a state machine (features.md §14, D11): where a request moves an event, and when
the state it lands in times out. No I/O and no clock: callers pass the states and ``now``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tidegate.config.state_machines import StateMachineSettings, StateTimeoutSettings
from tidegate.errors import InvalidTransition

__all__ = ["Move", "decide", "decide_rest", "decide_timeout", "timeout_at"]


@dataclass(frozen=True, slots=True)
class Move:
    """One request's effect on an event: ``allowed`` is the outcome's ``transition_allowed``."""

    previous: str
    new: str
    notify: bool
    allowed: bool

    @property
    def changed(self) -> bool:
        return self.previous != self.new


def decide(machine: StateMachineSettings, current: str, target: str | None) -> Move:
    """A dispatch's move (§14 steps 2-5): no ``status`` or the same state is a no-op that is allowed; a pair
    the table lacks (an unknown state included) keeps the state and is not allowed."""
    if target is None or target == current:
        return Move(current, current, notify=False, allowed=True)
    transition = machine.transition(current, target)
    if transition is None:
        return Move(current, current, notify=False, allowed=False)
    return Move(current, target, notify=transition.notify, allowed=True)


def decide_rest(machine: StateMachineSettings, current: str, target: str) -> Move:
    """``PUT /v1/events/{fingerprint}/transition`` (api.md §6): like a dispatch, but a move the table lacks
    raises InvalidTransition (409) instead of being kept."""
    move = decide(machine, current, target)
    if not move.allowed:
        raise InvalidTransition(current, target)
    return move


def decide_timeout(machine: StateMachineSettings, current: str) -> tuple[Move, StateTimeoutSettings] | None:
    """The move of ``current``'s timeout, whether or not the table lists it (timeouts are part of the
    definition); None when the state has no timeout (the definition changed since it was armed)."""
    timeout = machine.timeout_for(current)
    if timeout is None:
        return None
    return Move(current, timeout.transition_to, notify=timeout.notify, allowed=True), timeout


def timeout_at(machine: StateMachineSettings, state: str, entered_at: datetime) -> datetime | None:
    """When an event that entered ``state`` at ``entered_at`` times out; None if the state has no timeout."""
    timeout = machine.timeout_for(state)
    if timeout is None:
        return None
    return entered_at + timedelta(seconds=timeout.after_seconds)
