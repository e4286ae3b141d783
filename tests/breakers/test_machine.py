"""The pure breaker state machine of features.md §10, driven by explicit timestamps."""

from __future__ import annotations

from tidegate.breakers.machine import (
    BreakerState,
    Result,
    admit,
    decode,
    effective_state,
    encode,
    record,
    reset,
    trip,
)
from tidegate.config import BreakerPolicy

POLICY = BreakerPolicy(
    failure_threshold=3,
    success_threshold=2,
    recovery_timeout_seconds=60,
    probe_timeout_seconds=30,
    fallback_provider=None,
)


CLOSED = BreakerState()


def failed(times: int, state: BreakerState = CLOSED, now: float = 0.0) -> BreakerState:
    for _ in range(times):
        state = record(state, POLICY, Result.FAILURE, now)
    return state


def test_a_closed_breaker_opens_at_the_failure_threshold() -> None:
    assert failed(2).state == "closed"
    opened = failed(3, now=100.0)
    assert (opened.state, opened.consecutive_failures, opened.opened_at) == ("open", 3, 100.0)


def test_a_success_or_a_non_counting_result_while_closed() -> None:
    assert record(failed(2), POLICY, Result.SUCCESS, 0).consecutive_failures == 0
    assert record(failed(2), POLICY, Result.NEUTRAL, 0).consecutive_failures == 2
    assert failed(3, record(failed(2), POLICY, Result.SUCCESS, 0)).state == "open"


def test_an_open_breaker_rejects_until_the_recovery_timeout_then_admits_one_probe() -> None:
    opened = failed(3, now=100.0)
    assert admit(opened, POLICY, 159.9) == (False, opened)
    assert effective_state(opened, POLICY, 159.9) == "open"
    assert effective_state(opened, POLICY, 160.0) == "half_open"
    allowed, probing = admit(opened, POLICY, 160.0)
    assert allowed and (probing.state, probing.probe_until) == ("half_open", 190.0)
    assert admit(probing, POLICY, 170.0) == (False, probing)  # a probe is in flight
    allowed, second = admit(probing, POLICY, 190.0)  # the probe timed out: another may go
    assert allowed and second.probe_until == 220.0


def test_half_open_closes_after_the_success_threshold() -> None:
    _, probing = admit(failed(3), POLICY, 60.0)
    once = record(probing, POLICY, Result.SUCCESS, 61.0)
    assert (once.state, once.consecutive_successes, once.probe_until) == ("half_open", 1, None)
    allowed, again = admit(once, POLICY, 62.0)
    assert allowed
    assert record(again, POLICY, Result.SUCCESS, 63.0) == BreakerState()


def test_half_open_reopens_on_a_failure_and_a_neutral_result_releases_the_probe() -> None:
    _, probing = admit(failed(3), POLICY, 60.0)
    reopened = record(probing, POLICY, Result.FAILURE, 65.0)
    assert (reopened.state, reopened.opened_at) == ("open", 65.0)
    assert not admit(reopened, POLICY, 100.0)[0]
    released = record(probing, POLICY, Result.NEUTRAL, 61.0)
    assert (released.state, released.probe_until) == ("half_open", None)
    assert admit(released, POLICY, 61.0)[0]


def test_a_tripped_breaker_never_probes_until_reset() -> None:
    tripped = trip(BreakerState())
    assert (tripped.state, tripped.forced) == ("open", True)
    assert not admit(tripped, POLICY, 10**9)[0]
    assert effective_state(tripped, POLICY, 10**9) == "open"
    assert reset() == BreakerState()
    assert admit(reset(), POLICY, 0)[0]


def test_the_record_round_trips_and_garbage_reads_as_closed() -> None:
    state = failed(3, now=12.5)
    assert decode(encode(state)) == state
    assert decode(None) == BreakerState()
    assert decode(b"not json") == BreakerState()
