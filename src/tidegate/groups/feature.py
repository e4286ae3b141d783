"""Event grouping (features.md §13): the ``group`` verdict handler, the due-time worker and the manual
flush, over the group records in the state store.

Each change reads the group, decides with ``schedule`` (pure) and writes with one compare-and-set,
retried on a conflict, so concurrent adds on any number of instances each land once. Timers are armed
*before* the write that needs them: a write that loses leaves a member that fires harmlessly (its
handler finds the group no longer due at that time), while a write that wins is never without one."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from tidegate.clock import Clock
from tidegate.groups._announcements import Announcements
from tidegate.groups.closing import Closed, GroupCloser
from tidegate.groups.delivery import DELIVERY_INDEX, Deliveries, delivery_entity
from tidegate.groups.identity import group_key, group_labels
from tidegate.groups.record import Flush, Group, GroupSettings, Member
from tidegate.groups.repository import GroupRepository, Stored
from tidegate.groups.schedule import Added, Due, NewGroup, add, due, flush, postpone_close
from tidegate.model.action import Action
from tidegate.model.event import EventType
from tidegate.model.ids import new_id
from tidegate.model.outcome import Grouped
from tidegate.model.time import from_unix
from tidegate.model.verdict import GroupParams
from tidegate.pipeline.gateway import Gateway, Handled, VerdictRun
from tidegate.pipeline.recorder import Recorder
from tidegate.store.base import StateStore
from tidegate.stream.emit import new_event
from tidegate.workers.timers import Timers

__all__ = ["GROUPS_INDEX", "Closed", "EventGroups"]

log = logging.getLogger(__name__)

#: The timer index of groups' ``notify_at`` (flush, reminder, close).
GROUPS_INDEX = "groups"
#: Conflicting writers back off up to this long before reading again.
_MAX_BACKOFF = 0.05


class EventGroups:
    def __init__(self, store: StateStore, clock: Clock, timers: Timers, *, lease_seconds: float) -> None:
        """``lease_seconds``: a flush its instance did not send is sent by another after this long."""
        self._repository = GroupRepository(store)
        self._clock = clock
        self._timers = timers
        self._lease = timedelta(seconds=lease_seconds)
        self._announcements = Announcements()
        self._deliveries = Deliveries(self._repository, clock, timers, self._announcements)
        self._closer = GroupCloser(
            self._repository, self._deliveries, clock, timers, lease=self._lease, groups_index=GROUPS_INDEX
        )
        timers.register(GROUPS_INDEX, self._on_due)

    def attach(self, gateway: Gateway, recorder: Recorder) -> None:
        """Give the feature the dispatch path its notifications take (built after the feature)."""
        self._deliveries.attach(gateway, recorder)

    async def drain(self, grace: float) -> None:
        """Wait for the notifications being sent, up to ``grace`` seconds, then cancel the rest (their
        flushes stay in the outbox and are sent by their fallback timers). Called on shutdown."""
        await self._deliveries.drain(grace)

    # -- the verdict ------------------------------------------------------------------------------

    async def handle(self, run: VerdictRun) -> Handled:
        """Add the action to its group; ``grouped`` with the batch size after the add (features.md §13).

        A batch that reaches ``max_group_size`` is flushed by this write; its notification is sent once
        this dispatch's own events are in the log (``Handled.after``)."""
        params = run.verdict.params
        if not isinstance(params, GroupParams):
            raise TypeError("group verdict without group parameters")
        action, now = run.verdict.action, from_unix(run.now_ts)
        new, member = _arrival(action, run.verdict.matched_rule or "", params, now)
        key = new.group_key
        ticket = self._announcements.open(key)
        try:
            added = await self._add(new, member, now)
        except BaseException:
            self._announcements.close(key, ticket)
            raise
        group = added.group
        size = len(group.batch)
        added_event = new_event(
            EventType.GROUP_EVENT_ADDED,
            namespace=group.namespace,
            tenant=group.tenant,
            fields={"group_id": group.group_id, "group_key": key, "event_count": size},
            now=self._clock.now(),
            action_type=action.action_type,
            action_id=action.id,
        )

        def after() -> None:
            self._announcements.close(key, ticket)
            if added.flush is not None:
                self._deliveries.start(group, added.flush)

        notify_at = now if added.flush is not None else group.notify_at
        return Handled(Grouped(group.group_id, key, size, notify_at), before=[added_event], after=after)

    async def _add(self, new: NewGroup, member: Member, now: datetime) -> Added:
        delivery_at = now + self._lease
        armed: set[tuple[str, str, datetime]] = set()
        attempt = 0
        while True:
            stored = await self._repository.read(new.group_key)
            current = None if stored is None else stored.group
            added = add(current, new, member, now, delivery_at)
            if added.flush is not None:
                await self._arm(armed, DELIVERY_INDEX, delivery_entity(added.group, added.flush), delivery_at)
            if current is None or added.group.notify_at != current.notify_at:
                await self._arm(armed, GROUPS_INDEX, new.group_key, added.group.notify_at)
            if await self._repository.write(added.group, None if stored is None else stored.version):
                return added
            attempt += 1
            await _back_off(attempt)

    async def _arm(
        self, armed: set[tuple[str, str, datetime]], index: str, key: str, due_at: datetime
    ) -> None:
        if (index, key, due_at) not in armed:
            await self._timers.arm(index, key, due_at)
            armed.add((index, key, due_at))

    # -- the due-time worker ----------------------------------------------------------------------

    async def _on_due(self, key: str, due_at: datetime) -> None:
        """A group's ``notify_at`` came: flush, remind, or close. Members left behind by a moved
        ``notify_at`` find the group no longer due at their time and do nothing."""
        armed: set[tuple[str, str, datetime]] = set()
        attempt = 0
        while True:
            stored = await self._repository.read(key)
            if stored is None or stored.group.notify_at != due_at:
                return
            written, sent = await self._advance(stored, armed)
            if written:
                if sent is not None:
                    self._deliveries.start(*sent)
                return
            attempt += 1
            await _back_off(attempt)

    async def _advance(
        self, stored: Stored, armed: set[tuple[str, str, datetime]]
    ) -> tuple[bool, tuple[Group, Flush] | None]:
        """One attempt: (False, None) when another change came first; else True and the flush to send."""
        group, now = stored.group, self._clock.now()
        step = due(group)
        if step is Due.CLOSE:
            return await self._repository.close(stored), None
        sent = None
        if step is Due.POSTPONE:
            updated = postpone_close(group, now)
        else:
            delivery_at = now + self._lease
            updated, sent = flush(group, now, delivery_at, repeat=step is Due.REMIND)
            await self._arm(armed, DELIVERY_INDEX, delivery_entity(updated, sent), delivery_at)
        await self._arm(armed, GROUPS_INDEX, group.group_key, updated.notify_at)
        if not await self._repository.write(updated, stored.version):
            return False, None
        return True, None if sent is None else (updated, sent)

    # -- the API ----------------------------------------------------------------------------------

    async def get(self, key: str) -> Group | None:
        stored = await self._repository.read(key)
        return None if stored is None else stored.group

    async def list_all(self) -> list[Group]:
        """Every group of every tenant; the caller filters by grants and query."""
        return await self._repository.scan()

    async def close_group(self, key: str, visible: Callable[[Group], bool]) -> Closed:
        """``DELETE /v1/groups/{key}``: flush the pending batch now (if any), then close (api.md §8).

        Safe against failures and races (``closing``): a batch whose notification could not be
        dispatched stays in the group, and a racing flush or DELETE sends a batch once. Raises NotFound
        for a missing group and for one ``visible`` rejects, alike (G3)."""
        return await self._closer.close(key, visible)


def _arrival(action: Action, rule: str, params: GroupParams, now: datetime) -> tuple[NewGroup, Member]:
    """The group ``action`` belongs to (should it have to be created) and the member it becomes."""
    labels = group_labels(action, params.group_by)
    key = group_key(action.namespace, action.tenant, rule, labels)
    settings = GroupSettings.of(params)
    new = NewGroup(
        new_id(), key, action.namespace, action.tenant, rule, dict(labels), action.provider, settings
    )
    member = Member(
        action.id, action.action_type, action.provider, action.fingerprint, action.status, action.payload, now
    )
    return new, member


async def _back_off(attempt: int) -> None:
    """A short random pause after a lost compare-and-set, growing with the attempts, so writers spread."""
    await asyncio.sleep(random.uniform(0, min(_MAX_BACKOFF, 0.001 * attempt)))
