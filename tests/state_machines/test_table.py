"""The pure parts of state machines (features.md §14): moves, timeouts, fingerprints, the stored record."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from tidegate.config.state_machines import StateMachineSettings
from tidegate.errors import InvalidInput, InvalidTransition
from tidegate.model.action import Action
from tidegate.state_machines import (
    EventRecord,
    Move,
    TimerRef,
    Trigger,
    decide,
    decide_rest,
    decide_timeout,
    fingerprint_of,
    timeout_at,
)

ALERT = StateMachineSettings.model_validate(
    {
        "name": "alert",
        "initial_state": "firing",
        "states": ["firing", "acknowledged", "resolved", "stale"],
        "transitions": [
            {"from": "firing", "to": "acknowledged"},
            {"from": "firing", "to": "resolved", "notify": True},
            {"from": "acknowledged", "to": "resolved", "notify": True},
        ],
        "timeouts": [{"in_state": "firing", "after_seconds": 3600, "transition_to": "stale", "notify": True}],
        "notify_provider": "log",
    }
)
NOW = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        ("firing", None, Move("firing", "firing", notify=False, allowed=True)),  # no status: no move
        ("firing", "firing", Move("firing", "firing", notify=False, allowed=True)),
        ("firing", "acknowledged", Move("firing", "acknowledged", notify=False, allowed=True)),
        ("firing", "resolved", Move("firing", "resolved", notify=True, allowed=True)),
        ("resolved", "firing", Move("resolved", "resolved", notify=False, allowed=False)),  # not in the table
        ("firing", "stale", Move("firing", "firing", notify=False, allowed=False)),  # a timeout's move only
        ("firing", "exploded", Move("firing", "firing", notify=False, allowed=False)),  # unknown state
    ],
)
def test_a_dispatch_moves_only_along_the_table(current: str, target: str | None, expected: Move) -> None:
    move = decide(ALERT, current, target)
    assert move == expected
    assert move.changed is (expected.previous != expected.new)


def test_a_rest_move_outside_the_table_is_a_conflict_with_the_exact_message() -> None:
    assert decide_rest(ALERT, "acknowledged", "resolved") == Move("acknowledged", "resolved", True, True)
    assert decide_rest(ALERT, "resolved", "resolved").changed is False
    with pytest.raises(InvalidTransition) as raised:
        decide_rest(ALERT, "resolved", "firing")
    assert raised.value.message == "transition from 'resolved' to 'firing' is not allowed"
    assert raised.value.code == "invalid_transition"
    with pytest.raises(InvalidTransition):
        decide_rest(ALERT, "firing", "nowhere")


def test_a_timeout_moves_even_where_the_table_has_no_such_pair() -> None:
    decided = decide_timeout(ALERT, "firing")
    assert decided is not None
    move, timeout = decided
    assert move == Move("firing", "stale", notify=True, allowed=True)
    assert timeout.after_seconds == 3600
    assert decide_timeout(ALERT, "acknowledged") is None


def test_the_timeout_is_due_after_seconds_from_entering_the_state() -> None:
    assert timeout_at(ALERT, "firing", NOW) == NOW + timedelta(seconds=3600)
    assert timeout_at(ALERT, "resolved", NOW) is None


def action(**changes: object) -> Action:
    base = Action(
        id="a-1",
        namespace="monitoring",
        tenant="tenant-1",
        provider="log",
        action_type="cpu_alert",
        payload={"check": "cpu", "level": 3},
        metadata={"cluster": "eu-1"},
    )
    return base.replace(**changes)


def test_the_actions_own_fingerprint_wins() -> None:
    assert (
        fingerprint_of(action(fingerprint="alert-cluster1-cpu"), ["metadata.cluster"]) == "alert-cluster1-cpu"
    )


def test_a_derived_fingerprint_hashes_field_value_pairs_in_rule_order() -> None:
    pairs = [["metadata.cluster", "eu-1"], ["payload.check", "cpu"]]
    expected = hashlib.sha256(json.dumps(pairs, separators=(",", ":")).encode()).hexdigest()
    assert fingerprint_of(action(), ["action.metadata.cluster", "payload.check"]) == expected
    assert fingerprint_of(action(), ["payload.check", "metadata.cluster"]) != expected
    # a field that is absent takes part as "" as long as one field is present
    assert (
        fingerprint_of(action(), ["metadata.cluster", "payload.missing"])
        == hashlib.sha256(b'[["metadata.cluster","eu-1"],["payload.missing",""]]').hexdigest()
    )


@pytest.mark.parametrize("fields", [[], ["payload.missing", "metadata.nope"]])
def test_no_fingerprint_at_all_is_a_bad_request(fields: list[str]) -> None:
    with pytest.raises(InvalidInput) as raised:
        fingerprint_of(action(), fields)
    assert raised.value.message == "fingerprint required"
    assert raised.value.code == "bad_request"


def test_the_stored_record_round_trips_and_shows_the_spec_event_state() -> None:
    record = EventRecord(
        namespace="monitoring",
        tenant="tenant-1",
        fingerprint="fp:1",
        state_machine="alert",
        state="firing",
        action_type="cpu_alert",
        last_action_id="a-1",
        created_at=NOW,
        updated_at=NOW,
        transitioned_by=Trigger.DISPATCH,
        timeout_at=NOW + timedelta(hours=1),
        timer="t-1",
    )
    assert EventRecord.decode(record.encode()) == record
    assert record.to_state() == {
        "fingerprint": "fp:1",
        "namespace": "monitoring",
        "tenant": "tenant-1",
        "state_machine": "alert",
        "state": "firing",
        "action_type": "cpu_alert",
        "updated_at": "2026-02-07T14:30:00.000000Z",
        "timeout_at": "2026-02-07T15:30:00.000000Z",
    }
    ref = record.timer_ref()
    assert ref is not None
    assert TimerRef.parse(ref.entity()) == ref


@pytest.mark.parametrize("entity", ["not json", "[1,2,3,4]", '["a","b","c"]', '{"a":1}'])
def test_a_timer_entity_we_did_not_write_is_recognised(entity: str) -> None:
    assert TimerRef.parse(entity) is None
