"""Sending a flush (features.md §13): ``group_flushed``, then the notification's dispatch, then the flush
leaves the group's outbox.

A flush is written into its group (the outbox) by the same compare-and-set that moves the group to
``notified``, together with a fallback timer at its ``delivery_at``. The instance that flushed sends it
at once, in a task of its own, under that timer's claim; if it dies first, the timer fires on another
instance after the lease and sends it from the outbox. So a flush is sent once, or again only after a
crash between the provider call and the outbox write (features.md §19)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime
from functools import partial
from typing import Any

from tidegate.clock import Clock
from tidegate.errors import ProviderNotFound
from tidegate.groups._announcements import Announcements
from tidegate.groups.notification import notification_action
from tidegate.groups.record import Flush, Group
from tidegate.groups.repository import GroupRepository
from tidegate.groups.schedule import delivered
from tidegate.model.caller import SYSTEM
from tidegate.model.event import EventType
from tidegate.model.ids import new_id
from tidegate.pipeline.gateway import Gateway
from tidegate.pipeline.recorder import Recorder
from tidegate.pipeline.result import DispatchResult
from tidegate.stream.emit import new_event
from tidegate.workers.timers import Timers

__all__ = ["DELIVERY_INDEX", "Deliveries", "delivery_entity"]

log = logging.getLogger(__name__)

#: The timer index of flushes' fallback deliveries.
DELIVERY_INDEX = "group-deliveries"


def delivery_entity(group: Group, flush: Flush) -> str:
    """The fallback timer's entity: ``group_key/group_id/flush_count`` names one flush of one group
    (a group closed and formed again keeps its key, not its id)."""
    return f"{group.group_key}/{group.group_id}/{flush.flush_count}"


class Deliveries:
    def __init__(
        self, repository: GroupRepository, clock: Clock, timers: Timers, announcements: Announcements
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._timers = timers
        self._announcements = announcements
        self._gateway: Gateway | None = None
        self._recorder: Recorder | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        timers.register(DELIVERY_INDEX, self._on_due)

    def attach(self, gateway: Gateway, recorder: Recorder) -> None:
        """The dispatch path notifications take; built after the feature (the gateway needs its handler)."""
        self._gateway = gateway
        self._recorder = recorder

    def start(self, group: Group, flush: Flush) -> None:
        """Send ``flush`` in the background, now, unless another instance has taken it."""
        work = partial(self.send, group, flush)
        entity = delivery_entity(group, flush)
        self._spawn(self._timers.fire_now(DELIVERY_INDEX, entity, flush.delivery_at, work))

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        """Run ``work`` in a task this object owns (``drain`` waits for it)."""
        task = asyncio.create_task(work, name="tidegate:group-delivery")
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    async def send(self, group: Group, flush: Flush) -> DispatchResult | None:
        """``group_flushed``, then the notification, then drop the flush from the outbox.

        None when the notification's provider is gone (a config change): logged, and the flush is dropped.
        Any other failure raises and leaves the flush in the outbox for its fallback timer."""
        result = await self.notify(group, flush)
        await self.sent(group, flush.flush_count)
        return result

    async def notify(self, group: Group, flush: Flush) -> DispatchResult | None:
        """``group_flushed``, then the notification's dispatch; the flush stays in the outbox (``sent``).

        Raises what the dispatch raises (BackendUnavailable: nothing was executed or recorded)."""
        gateway, recorder = self._gateway, self._recorder
        if gateway is None or recorder is None:
            raise RuntimeError("group deliveries used before attach()")
        await self._announcements.settled(group.group_key)  # members' events first (stream.md §1.8)
        now = self._clock.now()
        flushed = new_event(
            EventType.GROUP_FLUSHED,
            namespace=group.namespace,
            tenant=group.tenant,
            fields={"group_id": group.group_id, "event_count": len(flush.events)},
            now=now,
        )
        await recorder.emit([flushed])
        action = notification_action(group, flush, new_id(), now)
        result: DispatchResult | None
        try:
            result = await gateway.dispatch(action, SYSTEM, internal=True)
        except ProviderNotFound:
            log.error(
                "group notification dropped: provider %s is not registered",
                action.provider,
                extra={"group_id": group.group_id, "tenant": group.tenant},
            )
            result = None
        return result

    async def sent(self, group: Group, flush_count: int) -> None:
        """Take flush ``flush_count`` out of the group's outbox (nothing if it is closed or taken out)."""
        while True:
            stored = await self._repository.read(group.group_key)
            if stored is None or not _holds(stored.group, group.group_id, flush_count):
                return  # closed, or already taken out
            if await self._repository.write(delivered(stored.group, flush_count), stored.version):
                return

    async def _on_due(self, entity: str, delivery_at: datetime) -> None:
        """The fallback: the flush is still in the outbox at its ``delivery_at``, so its sender died."""
        group_key, group_id, count = entity.split("/")
        stored = await self._repository.read(group_key)
        if stored is None or not _holds(stored.group, group_id, int(count)):
            return
        flush = stored.group.unsent(int(count))
        if flush is not None and flush.delivery_at == delivery_at:  # not a later flush with the same count
            log.warning("sending a group flush its instance did not send", extra={"group_id": group_id})
            await self.send(stored.group, flush)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("group delivery failed", exc_info=task.exception())

    async def drain(self, grace: float) -> None:
        """Let running deliveries finish for up to ``grace`` seconds, then cancel them (their flushes
        stay in the outbox: another instance, or this one after a restart, sends them)."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def _holds(group: Group, group_id: str, flush_count: int) -> bool:
    return group.group_id == group_id and group.unsent(flush_count) is not None
