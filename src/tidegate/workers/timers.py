"""Timers that fire once cluster-wide: group flushes, state timeouts, approval expiry, chain steps, recurring.

A timer is a member of one of the StateStore's time indexes (DESIGN.md §3). The member names the entity
*and* the due time (``<entity>|<due micros>``), so moving a timer is arming a new member: a member left
behind by a move fires harmlessly, because its handler finds the entity no longer due at that time and
does nothing. That keeps every handler idempotent against stale members without a compare-and-unschedule
in the store protocol.

Firing: every instance polls ``due()``; a member is fired by the instance that wins its claim
(``put_if_absent`` with a lease). On success the claim is kept long enough that no instance that listed
the member before it was unscheduled can fire it again, and the member is unscheduled. When a handler
raises, the member stays scheduled and the lease expires, so another instance (or this one) retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from tidegate.clock import Clock
from tidegate.model.time import from_micros, to_micros
from tidegate.store import keys
from tidegate.store.base import StateStore

__all__ = ["TimerHandler", "Timers", "member_of", "parse_member"]

log = logging.getLogger(__name__)

#: ``handler(entity_id, due_at)``: do the due work if the entity is still due at ``due_at``.
TimerHandler = Callable[[str, datetime], Awaitable[None]]

_DONE = b"done"
#: How long a fired member's claim outlives it: far longer than one poll of any instance.
_DONE_TTL = 3600.0


def member_of(entity_id: str, due_at: datetime) -> str:
    return f"{entity_id}|{to_micros(due_at)}"


def parse_member(member: str) -> tuple[str, datetime]:
    entity_id, _, micros = member.rpartition("|")
    return entity_id, from_micros(int(micros))


class Timers:
    """The time indexes of every feature and their handlers, polled by one supervisor loop (``tick``)."""

    def __init__(
        self,
        store: StateStore,
        clock: Clock,
        *,
        owner: str,
        lease_seconds: float = 30.0,
        batch: int = 100,
        wake: bool = False,
    ) -> None:
        """``wake``: also fire a member armed here at its due time, in-process, without waiting for a poll
        (features.md §19); only where this instance runs workers."""
        self._store = store
        self._clock = clock
        self._owner = owner.encode()
        self._lease = lease_seconds
        self._batch = batch
        self._handlers: dict[str, TimerHandler] = {}
        self._wake = wake
        self._wakers: dict[str, asyncio.TimerHandle] = {}
        self._waking: set[asyncio.Task[None]] = set()

    def register(self, index: str, handler: TimerHandler) -> None:
        if index in self._handlers:
            raise ValueError(f"timer index already registered: {index}")
        self._handlers[index] = handler

    async def arm(self, index: str, entity_id: str, due_at: datetime, *, wake: bool = True) -> str:
        """Schedule ``entity_id`` at ``due_at``; returns the member (to ``disarm`` an earlier arming).

        ``wake=False`` leaves the in-process wake-up to a later ``wake`` (work that must not start before
        its caller's own events are out); the poll still fires the member."""
        member = member_of(entity_id, due_at)
        await self._store.schedule(index, member, due_at)
        if wake:
            self.wake(index, entity_id, due_at)
        return member

    def wake(self, index: str, entity_id: str, due_at: datetime) -> None:
        """Fire an armed member in-process at its due time, where this instance runs workers."""
        if self._wake and index in self._handlers:
            self._set_waker(index, member_of(entity_id, due_at), due_at)

    async def disarm(self, index: str, entity_id: str, due_at: datetime) -> None:
        member = member_of(entity_id, due_at)
        waker = self._wakers.pop(f"{index}|{member}", None)
        if waker is not None:
            waker.cancel()
        await self._store.unschedule(index, member)

    async def release(self, index: str, entity_id: str, due_at: datetime) -> None:
        """Drop this instance's claim on a member whose work failed (normally kept until the lease ends),
        for work that was undone and disarmed: the same member armed again can then fire at once."""
        claim = keys.timer_claim(index, member_of(entity_id, due_at))
        await self._store.delete_if_equals(claim, self._owner)

    def close(self) -> None:
        """Cancel the in-process wake-ups (the members stay armed in the store for any instance)."""
        for waker in self._wakers.values():
            waker.cancel()
        self._wakers.clear()
        for task in self._waking:
            task.cancel()

    def _set_waker(self, index: str, member: str, due_at: datetime) -> None:
        loop = asyncio.get_running_loop()
        delay = max(0.0, (due_at - self._clock.now()).total_seconds())
        name = f"{index}|{member}"
        previous = self._wakers.pop(name, None)
        if previous is not None:
            previous.cancel()
        self._wakers[name] = loop.call_later(delay, self._woken, index, member, due_at)

    def _woken(self, index: str, member: str, due_at: datetime) -> None:
        self._wakers.pop(f"{index}|{member}", None)
        if self._clock.now() < due_at:  # a clock that is not the wall clock: the poll fires it when due
            return
        task = asyncio.create_task(self._fire(index, member, self._handlers[index]))
        self._waking.add(task)
        task.add_done_callback(self._waking.discard)

    async def tick(self) -> None:
        """Fire every member due now whose claim this instance wins."""
        now = self._clock.now()
        for index, handler in self._handlers.items():
            for member, _ in await self._store.due(index, now, self._batch):
                await self._fire(index, member, handler)

    async def fire_now(
        self, index: str, entity_id: str, due_at: datetime, work: Callable[[], Awaitable[object]]
    ) -> bool:
        """Do an armed member's work at once, in this process, under the member's claim.

        For work the arming instance can start before the due time (a size-triggered group flush): the
        member stays armed as the fallback if this process dies, and the claim makes the work happen
        once cluster-wide. False when another instance holds or has done it, or ``work`` raised (the
        member then fires at its due time, after the lease)."""
        return await self._run(index, member_of(entity_id, due_at), work)

    async def _fire(self, index: str, member: str, handler: TimerHandler) -> None:
        try:
            entity_id, due_at = parse_member(member)
        except ValueError:
            log.error("timer index %s holds a malformed member %r; dropped", index, member)
            await self._store.unschedule(index, member)
            return
        await self._run(index, member, partial(handler, entity_id, due_at))

    async def _run(self, index: str, member: str, work: Callable[[], Awaitable[object]]) -> bool:
        claim = keys.timer_claim(index, member)
        if not await self._store.put_if_absent(claim, self._owner, ttl=self._lease):
            return False
        try:
            await work()
        except Exception:
            log.exception("timer %s member %s failed; retried after %.0f s", index, member, self._lease)
            return False
        await self._store.put(claim, _DONE, ttl=_DONE_TTL)
        await self._store.unschedule(index, member)
        return True
