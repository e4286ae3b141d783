"""The group lifecycle (features.md §13) as pure transitions, table by table, on fixed instants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tidegate.groups import Flush, Group, GroupSettings, GroupState, Member
from tidegate.groups.schedule import (
    CLOSE_RETRY,
    Due,
    NewGroup,
    add,
    delivered,
    due,
    flush,
    flush_on_close,
    postpone_close,
)

T0 = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def member(n: int, seconds: float = 0) -> Member:
    return Member(f"a-{n}", "cpu", "slack", None, None, {"n": n}, at(seconds))


def new(wait: int = 30, interval: int = 300, repeat: int | None = None, size: int = 100) -> NewGroup:
    settings = GroupSettings(wait, interval, repeat, size, None)
    return NewGroup("g-1", "k" * 64, "alerts", "acme", "r", {"metadata.cluster": "c1"}, "slack", settings)


def grow(count: int, template: NewGroup | None = None) -> Group:
    """A pending group of ``count`` members added at T0."""
    template = template or new()
    group = None
    for n in range(count):
        group = add(group, template, member(n), T0, at(60)).group
    assert group is not None
    return group


def test_the_first_event_creates_a_pending_group_due_after_the_wait() -> None:
    added = add(None, new(wait=30), member(0), T0, at(60))
    group = added.group
    assert added.flush is None
    assert (group.state, group.batch, group.notify_at) == (GroupState.PENDING, (member(0),), at(30))
    assert (group.created_at, group.updated_at, group.flush_count) == (T0, T0, 0)


def test_a_pending_group_appends_without_moving_its_notify_at() -> None:
    group = grow(1)
    later = add(group, new(), member(1, 10), at(10), at(70)).group
    assert [m.action_id for m in later.batch] == ["a-0", "a-1"]
    assert (later.notify_at, later.updated_at, later.created_at) == (at(30), at(10), T0)


def test_a_full_batch_flushes_in_the_same_write() -> None:
    template = new(size=3)
    added = add(grow(2, template), template, member(2), at(5), at(65))
    assert added.flush == Flush(at(65), at(5), 1, False, (member(0), member(1), member(2)))
    group = added.group
    assert (group.state, group.flush_count, group.last_notified_at) == (GroupState.NOTIFIED, 1, at(5))
    assert group.notify_at == at(305)  # group_interval after the flush
    assert group.undelivered == (added.flush,)


def test_a_group_of_one_flushes_at_its_first_event() -> None:
    added = add(None, new(size=1), member(0), T0, at(60))
    assert added.flush is not None and added.group.state is GroupState.NOTIFIED


@pytest.mark.parametrize(
    ("arrives", "notify_at"),
    [(10, 300), (299, 300), (300, 300), (450, 450)],  # no sooner than group_interval after the flush
)
def test_an_event_after_a_flush_restarts_the_batch(arrives: float, notify_at: float) -> None:
    flushed, _ = flush(grow(3), T0, at(60))
    flushed = replace(flushed, idle_reminders=2)
    added = add(flushed, new(), member(9, arrives), at(arrives), at(arrives + 60))
    group = added.group
    assert (group.state, group.batch, group.notify_at) == (
        GroupState.PENDING,
        (member(9, arrives),),
        at(notify_at),
    )
    assert group.idle_reminders == 0 and group.group_id == "g-1"


def test_settings_are_those_the_group_was_created_with() -> None:
    group = grow(1, new(size=2))
    added = add(group, new(size=100), member(1), T0, at(60))  # the rule was reloaded with another size
    assert added.flush is not None


@pytest.mark.parametrize(
    ("state", "repeat", "reminders", "undelivered", "expected"),
    [
        (GroupState.PENDING, None, 0, False, Due.FLUSH),
        (GroupState.NOTIFIED, None, 0, False, Due.CLOSE),
        (GroupState.NOTIFIED, 600, 0, False, Due.REMIND),
        (GroupState.NOTIFIED, 600, 2, False, Due.REMIND),
        (GroupState.NOTIFIED, 600, 3, False, Due.CLOSE),
        (GroupState.NOTIFIED, None, 0, True, Due.POSTPONE),
    ],
)
def test_what_a_due_group_does(
    state: GroupState, repeat: int | None, reminders: int, undelivered: bool, expected: Due
) -> None:
    group = replace(
        grow(1, new(repeat=repeat)),
        state=state,
        idle_reminders=reminders,
        undelivered=(Flush(at(60), T0, 1, False, ()),) if undelivered else (),
    )
    assert due(group) is expected


def test_flush_and_reminders_of_a_persistent_group() -> None:
    group, first = flush(grow(2, new(interval=300, repeat=600)), at(30), at(90))
    assert (first.repeat, first.flush_count, group.notify_at) == (False, 1, at(630))  # every repeat interval
    group, second = flush(group, at(630), at(690), repeat=True)
    assert (second.repeat, second.flush_count, second.events) == (True, 2, first.events)  # the same batch
    assert (group.idle_reminders, group.last_notified_at, group.notify_at) == (1, at(630), at(1230))
    assert [f.flush_count for f in group.undelivered] == [1, 2]
    assert [f.flush_count for f in delivered(group, 1).undelivered] == [2]


def test_a_close_waits_for_an_unsent_flush() -> None:
    group, _ = flush(grow(1), T0, at(60))
    assert postpone_close(group, at(300)).notify_at == at(300) + CLOSE_RETRY
    assert postpone_close(group, at(10)).notify_at == at(60) + CLOSE_RETRY


def test_a_manual_flush_sends_only_pending_events() -> None:
    pending = grow(2)
    closing = flush_on_close(pending, at(7), at(67))
    assert closing is not None
    group, sent = closing
    assert sent == Flush(at(67), at(7), 1, False, pending.batch)
    assert (group.state, group.undelivered) == (GroupState.NOTIFIED, (sent,))  # in the outbox until sent
    notified, _ = flush(pending, T0, at(60))
    assert flush_on_close(notified, at(7), at(67)) is None


def test_the_record_survives_the_store_codec() -> None:
    group, _ = flush(grow(2, new(repeat=600)), at(30), at(90))
    group = add(group, new(), member(7, 40), at(40), at(100)).group
    assert Group.decode(group.encode()) == group
    assert group.to_json()["event_count"] == 1 and group.to_json()["state"] == "pending"
