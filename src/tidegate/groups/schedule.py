"""The group lifecycle of features.md §13 as pure transitions: add, flush, reminder, close. No I/O.

Each function takes the group as read and ``now`` and returns the group to write; the caller writes it
with one compare-and-set and retries on a conflict. The wait / interval / repeat schedule:

- a new group flushes ``group_wait_seconds`` after its first event;
- after a flush, events arriving are batched and sent no sooner than ``group_interval_seconds`` after it;
- a quiet group closes ``group_interval_seconds`` after its flush, or, with ``repeat_interval_seconds``
  set, repeats its last batch every repeat interval (a reminder) and closes after 3 quiet reminders;
- a batch that reaches ``max_group_size`` flushes at once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from tidegate.groups.record import Flush, Group, GroupSettings, GroupState, Member

__all__ = [
    "CLOSE_RETRY",
    "MAX_IDLE_REMINDERS",
    "Added",
    "Due",
    "NewGroup",
    "add",
    "delivered",
    "due",
    "flush",
    "flush_on_close",
    "postpone_close",
]

#: Reminders a persistent group sends without new events before it closes (Acteon's idle limit).
MAX_IDLE_REMINDERS = 3
#: How long a close waits again while a flush of the group is still being sent.
CLOSE_RETRY = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class NewGroup:
    """What a group is created with, should the action find none under its key."""

    group_id: str
    group_key: str
    namespace: str
    tenant: str
    rule: str
    labels: dict[str, str]
    provider: str
    settings: GroupSettings


@dataclass(frozen=True, slots=True)
class Added:
    """``flush`` is set when the add filled the batch: the group was flushed in the same write."""

    group: Group
    flush: Flush | None


class Due(Enum):
    """What a group whose ``notify_at`` has come does."""

    FLUSH = "flush"  # pending: send the batch
    REMIND = "remind"  # notified, persistent, fewer than 3 quiet reminders: send the last batch again
    CLOSE = "close"  # notified otherwise: delete the group
    POSTPONE = "postpone"  # would close, but a flush is still being sent: look again shortly


def add(group: Group | None, new: NewGroup, member: Member, now: datetime, delivery_at: datetime) -> Added:
    """Add ``member``; ``delivery_at`` identifies the flush should this add fill the batch."""
    if group is None:
        settings = new.settings
        updated = Group(
            group_id=new.group_id,
            group_key=new.group_key,
            namespace=new.namespace,
            tenant=new.tenant,
            rule=new.rule,
            labels=dict(new.labels),
            provider=new.provider,
            settings=settings,
            state=GroupState.PENDING,
            batch=(member,),
            notify_at=now + timedelta(seconds=settings.group_wait_seconds),
            created_at=now,
            updated_at=now,
        )
    elif group.state is GroupState.PENDING:
        updated = replace(group, batch=(*group.batch, member), updated_at=now)
    else:
        last = group.last_notified_at or now
        interval = timedelta(seconds=group.settings.group_interval_seconds)
        updated = replace(
            group,
            state=GroupState.PENDING,
            batch=(member,),
            notify_at=max(now, last + interval),
            idle_reminders=0,
            updated_at=now,
        )
    if len(updated.batch) >= updated.settings.max_group_size:
        flushed, sent = flush(updated, now, delivery_at)
        return Added(flushed, sent)
    return Added(updated, None)


def due(group: Group) -> Due:
    """The work of a group whose ``notify_at`` has come (the caller checked the time)."""
    if group.state is GroupState.PENDING:
        return Due.FLUSH
    if group.settings.repeat_interval_seconds is not None and group.idle_reminders < MAX_IDLE_REMINDERS:
        return Due.REMIND
    return Due.POSTPONE if group.undelivered else Due.CLOSE


def flush(group: Group, now: datetime, delivery_at: datetime, *, repeat: bool = False) -> tuple[Group, Flush]:
    """Send the batch (a reminder when ``repeat``): the group becomes ``notified`` and keeps the flush in
    its outbox until the notification is sent (``delivered``)."""
    settings = group.settings
    step = settings.repeat_interval_seconds or settings.group_interval_seconds
    count = group.flush_count + 1
    sent = Flush(delivery_at, now, count, repeat, group.batch)
    flushed = replace(
        group,
        state=GroupState.NOTIFIED,
        notify_at=now + timedelta(seconds=step),
        last_notified_at=now,
        flush_count=count,
        idle_reminders=group.idle_reminders + 1 if repeat else group.idle_reminders,
        updated_at=now,
        undelivered=(*group.undelivered, sent),
    )
    return flushed, sent


def postpone_close(group: Group, now: datetime) -> Group:
    """Keep a group whose flush is still unsent until after that flush's fallback time."""
    latest = max((f.delivery_at for f in group.undelivered), default=now)
    return replace(group, notify_at=max(now, latest) + CLOSE_RETRY)


def delivered(group: Group, flush_count: int) -> Group:
    """The group without flush number ``flush_count`` in its outbox."""
    return replace(group, undelivered=tuple(f for f in group.undelivered if f.flush_count != flush_count))


def flush_on_close(group: Group, now: datetime, delivery_at: datetime) -> tuple[Group, Flush] | None:
    """What ``DELETE /v1/groups/{key}`` sends before closing: the pending batch, if any (api.md §8).

    A flush like any other: the batch moves into the outbox by the same write that makes the group
    ``notified``, so it is sent even if the close never happens, and a racing flush finds nothing to send."""
    if group.state is not GroupState.PENDING or not group.batch:
        return None
    return flush(group, now, delivery_at)
