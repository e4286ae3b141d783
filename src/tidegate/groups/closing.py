"""``DELETE /v1/groups/{key}`` (api.md §8): flush the pending batch now, then close the group.

Nothing accepted is lost. The pending batch moves into the group's outbox by one compare-and-set, exactly
as a timer flush does (with its fallback timer armed first), so a racing timer flush or DELETE finds a
``notified`` group and never sends the batch again. The notification is sent under the fallback timer's
claim, so it is sent once cluster-wide, and the group is deleted only once its outbox is empty: a flush
of another sender still in flight is waited for (or sent here), never dropped with the group.

When the notification could not be dispatched (BackendUnavailable or any other error before it was
recorded), the DELETE raises and the group is put back as it was read: ``pending``, with its events, due
again at its ``notify_at`` (or shortly, when that has passed). If the group changed meanwhile, or the
store does not answer, the flush stays in the outbox and its fallback timer sends it after the lease."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from tidegate.clock import Clock
from tidegate.errors import BackendUnavailable, NotFound
from tidegate.groups.delivery import DELIVERY_INDEX, Deliveries, delivery_entity
from tidegate.groups.record import Flush, Group, GroupState
from tidegate.groups.repository import GroupRepository, Stored
from tidegate.groups.schedule import CLOSE_RETRY, flush_on_close
from tidegate.pipeline.result import DispatchResult
from tidegate.workers.timers import Timers

__all__ = ["Closed", "GroupCloser"]

log = logging.getLogger(__name__)

#: How long a DELETE waits for a flush another sender holds before answering 503 (retry later).
SETTLE_TIMEOUT = 10.0
#: The pause between two looks at a flush another sender holds, and after a lost compare-and-set.
_PAUSE = 0.02


@dataclass(frozen=True, slots=True)
class Closed:
    """What ``DELETE /v1/groups/{key}`` did: the closed group, and the flush's dispatch if it had events."""

    group: Group
    event_count: int
    notification: DispatchResult | None


class _Held(Exception):
    """Another sender holds the flush's claim: look again shortly."""


class GroupCloser:
    def __init__(
        self,
        repository: GroupRepository,
        deliveries: Deliveries,
        clock: Clock,
        timers: Timers,
        *,
        lease: timedelta,
        groups_index: str,
        settle_timeout: float = SETTLE_TIMEOUT,
    ) -> None:
        """``groups_index``: the timer index of groups' ``notify_at``, re-armed when a group is put back."""
        self._repository = repository
        self._deliveries = deliveries
        self._clock = clock
        self._timers = timers
        self._lease = lease
        self._groups_index = groups_index
        self._settle_timeout = settle_timeout

    async def close(self, key: str, visible: Callable[[Group], bool]) -> Closed:
        """Flush the pending batch (if any), wait for every flush in the outbox, then delete the group.

        Raises NotFound for a missing group and for one ``visible`` rejects, alike (G3); what the
        notification's dispatch raised (the group put back); BackendUnavailable when a flush another
        sender holds is still unsent after ``settle_timeout`` seconds (the group is kept)."""
        stored = await self._repository.read(key)
        if stored is None or not visible(stored.group):
            raise NotFound(f"group not found: {key}")
        first = stored.group
        flushed: tuple[Flush, DispatchResult | None] | None = None
        deadline = asyncio.get_running_loop().time() + self._settle_timeout
        while stored is not None and stored.group.group_id == first.group_id:
            group = stored.group
            if group.state is GroupState.PENDING and flushed is None:
                flushed = await self._flush(stored)
            elif group.undelivered:
                await self._settle(group, deadline)
            elif group.state is GroupState.PENDING:
                log.info("events joined a group being closed; it stays", extra={"group_id": group.group_id})
                break
            elif await self._repository.close(stored):
                break
            else:
                await asyncio.sleep(_PAUSE)
            stored = await self._repository.read(key)
        if flushed is None:
            return Closed(first, 0, None)
        return Closed(first, len(flushed[0].events), flushed[1])

    async def _flush(self, stored: Stored) -> tuple[Flush, DispatchResult | None] | None:
        """Move the pending batch into the outbox and send it; None when another change came first."""
        now = self._clock.now()
        delivery_at = now + self._lease
        closing = flush_on_close(stored.group, now, delivery_at)
        if closing is None:
            return None
        group, sent = closing
        await self._timers.arm(DELIVERY_INDEX, delivery_entity(group, sent), delivery_at)
        await self._timers.arm(self._groups_index, group.group_key, group.notify_at)
        if not await self._repository.write(group, stored.version):
            return None
        try:
            return sent, await self._send(group, sent)
        except _Held:
            return sent, None  # only its fallback timer can hold it, after the lease: it sends it
        except Exception:
            await self._put_back(stored, group, sent)
            raise

    async def _settle(self, group: Group, deadline: float) -> None:
        """Send the flushes left in the outbox; wait while another sender holds one (its task or its
        fallback timer), up to ``deadline``. Raises what a send raised: the flush stays in the outbox."""
        for unsent in group.undelivered:
            try:
                await self._send(group, unsent)
            except _Held:
                if asyncio.get_running_loop().time() > deadline:
                    raise BackendUnavailable(
                        "a flush of this group is still being sent; retry the DELETE later"
                    ) from None
                await asyncio.sleep(_PAUSE)
                return

    async def _send(self, group: Group, flush: Flush) -> DispatchResult | None:
        """Send ``flush`` now under its fallback timer's claim (the send happens once cluster-wide).

        Raises what the notification's dispatch raised (nothing recorded), and _Held when another sender
        holds the claim. A failure after the dispatch (taking the flush out of the outbox) is logged: the
        notification went out, and its fallback timer sends the flush again after the lease."""
        result: list[DispatchResult | None] = []
        failure: list[Exception] = []

        async def work() -> None:
            try:
                result.append(await self._deliveries.notify(group, flush))
            except Exception as exc:
                failure.append(exc)
                raise
            await self._deliveries.sent(group, flush.flush_count)

        entity = delivery_entity(group, flush)
        done = await self._timers.fire_now(DELIVERY_INDEX, entity, flush.delivery_at, work)
        if result:
            return result[0]
        if failure:
            raise failure[0]
        if not done:
            raise _Held(entity)
        return None

    async def _put_back(self, before: Stored, flushed: Group, sent: Flush) -> None:
        """Undo the flush whose notification failed, unless the group changed since it was written."""
        now = self._clock.now()
        # The old member may have fired already (finding the group flushed): a new due time re-arms it.
        notify_at = before.group.notify_at if before.group.notify_at > now else now + CLOSE_RETRY
        restored = replace(before.group, notify_at=notify_at)
        try:
            await self._timers.arm(self._groups_index, restored.group_key, notify_at)
            current = await self._repository.read(flushed.group_key)
            if current is None or current.group != flushed:
                log.warning(
                    "a group changed while its flush failed; the flush stays for its fallback timer",
                    extra={"group_id": flushed.group_id},
                )
                return
            if await self._repository.write(restored, current.version):
                entity = delivery_entity(flushed, sent)
                await self._timers.disarm(DELIVERY_INDEX, entity, sent.delivery_at)
                await self._timers.release(DELIVERY_INDEX, entity, sent.delivery_at)  # a retry may reuse it
                return
            log.warning("a group changed while being put back", extra={"group_id": flushed.group_id})
        except Exception:
            log.exception(
                "could not put back a group whose flush failed; its fallback timer sends the flush",
                extra={"group_id": flushed.group_id},
            )
