"""The breaker state machine of features.md §10, pure: every function takes ``now`` and returns a new state.

Times are epoch seconds, so instances on different hosts read the same ``opened_at`` and ``probe_until``."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, replace

from tidegate.config import BreakerPolicy

__all__ = [
    "BreakerState",
    "Result",
    "admit",
    "decode",
    "effective_state",
    "encode",
    "record",
    "reset",
    "trip",
]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Result(enum.Enum):
    """How one executor result counts: ``executed`` succeeds, a retryable failure fails, others neither."""

    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"


@dataclass(frozen=True, slots=True)
class BreakerState:
    state: str = CLOSED
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    opened_at: float | None = None
    forced: bool = False
    probe_until: float | None = None


def admit(current: BreakerState, policy: BreakerPolicy, now: float) -> tuple[bool, BreakerState]:
    """Whether a call may run now, and the state after admitting it (a probe marks ``probe_until``)."""
    if current.state == CLOSED:
        return True, current
    if current.state == OPEN:
        if current.forced or not _recovered(current, policy, now):
            return False, current
        return True, replace(
            current, state=HALF_OPEN, consecutive_successes=0, probe_until=now + policy.probe_timeout_seconds
        )
    if current.probe_until is not None and now < current.probe_until:
        return False, current
    return True, replace(current, probe_until=now + policy.probe_timeout_seconds)


def record(current: BreakerState, policy: BreakerPolicy, result: Result, now: float) -> BreakerState:
    """The state after one final executor result."""
    if current.state == CLOSED:
        if result is Result.SUCCESS:
            return replace(current, consecutive_failures=0)
        if result is Result.FAILURE:
            failures = current.consecutive_failures + 1
            if failures >= policy.failure_threshold:
                return replace(current, state=OPEN, consecutive_failures=failures, opened_at=now)
            return replace(current, consecutive_failures=failures)
        return current
    if current.state == HALF_OPEN:
        if result is Result.SUCCESS:
            successes = current.consecutive_successes + 1
            if successes >= policy.success_threshold:
                return BreakerState()
            return replace(current, consecutive_successes=successes, probe_until=None)
        if result is Result.FAILURE:
            return replace(
                current,
                state=OPEN,
                opened_at=now,
                consecutive_successes=0,
                consecutive_failures=current.consecutive_failures + 1,
                probe_until=None,
            )
        return replace(current, probe_until=None)
    return current  # open: a result of a call admitted before it opened changes nothing


def trip(current: BreakerState) -> BreakerState:
    """Forced open: no probes until a reset (api.md §11)."""
    return replace(current, state=OPEN, forced=True, probe_until=None)


def reset() -> BreakerState:
    return BreakerState()


def effective_state(current: BreakerState, policy: BreakerPolicy, now: float) -> str:
    """The listed state: an open, unforced breaker past its recovery timeout shows ``half_open``."""
    if current.state == OPEN and not current.forced and _recovered(current, policy, now):
        return HALF_OPEN
    return current.state


def _recovered(current: BreakerState, policy: BreakerPolicy, now: float) -> bool:
    return current.opened_at is None or now - current.opened_at >= policy.recovery_timeout_seconds


def encode(state: BreakerState) -> bytes:
    return json.dumps(asdict(state), separators=(",", ":")).encode()


def decode(raw: bytes | None) -> BreakerState:
    """A missing or unreadable record is a fresh closed breaker."""
    if raw is None:
        return BreakerState()
    try:
        data = json.loads(raw)
        return BreakerState(
            state=str(data["state"]),
            consecutive_failures=int(data["consecutive_failures"]),
            consecutive_successes=int(data["consecutive_successes"]),
            opened_at=None if data["opened_at"] is None else float(data["opened_at"]),
            forced=bool(data["forced"]),
            probe_until=None if data["probe_until"] is None else float(data["probe_until"]),
        )
    except (ValueError, KeyError, TypeError):
        return BreakerState()
