"""One dispatch run for the dispatch stream: the pipeline in its own task, heard as a ``DispatchObserver``.

The task belongs to this object, not to the HTTP response, so a client that goes away stops only the
writing: the dispatch runs to its end and is audited and published like any other (stream.md §3.6).
The observer hooks only put finished frames on an unbounded ``FrameChannel`` (a dispatch makes a
handful), so a slow client never holds up the pipeline. Failures before the decision are re-raised to
the request, which answers them as ordinary JSON errors (§3.2); failures after it become ``error`` and
``done`` frames (§3.5), never a broken connection.

With ``follow`` (stream.md §3.4), a ``chain_started`` outcome is followed by the chain's history entries
from ``seq`` 1 (``event: <type>``, the entry as data, no id), live, up to the terminal entry or the
``timeout``, and only then by ``done``. The dispatch is over by then, so a client that leaves (or a
draining server) just stops the following."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tidegate.api.sse import BATCH_FRAMES, FrameChannel
from tidegate.chains.stream import EndReason, HistoryFollower
from tidegate.errors import TidegateError
from tidegate.model.action import Action
from tidegate.model.outcome import ChainStarted
from tidegate.model.verdict import Verdict
from tidegate.pipeline.observer import DispatchObserver
from tidegate.pipeline.result import DispatchResult
from tidegate.providers.base import ProviderError
from tidegate.stream.dispatch_events import DispatchEvents
from tidegate.stream.frames import named_frame

__all__ = ["Dispatch", "Follow", "StreamedDispatch"]

log = logging.getLogger(__name__)

#: ``Gateway.dispatch`` bound to its action, caller and dry-run flag: only the observer is left to give.
Dispatch = Callable[[DispatchObserver], Awaitable[DispatchResult]]
#: Opens a follower of the chain ``chain_id`` from ``seq`` 1 (``follow=true``).
Follow = Callable[[str], HistoryFollower]

#: Runs whose request stopped waiting for them (a cancelled request): referenced here until they end.
_DETACHED: set[asyncio.Task[None]] = set()


class StreamedDispatch:
    """``start`` it, await ``decided`` before answering 200, stream ``frames``, and ``close`` at the end."""

    def __init__(
        self, action: Action, dry_run: bool, events: DispatchEvents, follow: Follow | None = None
    ) -> None:
        self._action = action
        self._follow = follow
        self._follower: HistoryFollower | None = None
        self._dry_run = dry_run
        self._events = events
        self._frames = FrameChannel()
        self._decided: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._attempts = 0
        self._task: asyncio.Task[None] | None = None

    def start(self, dispatch: Dispatch) -> None:
        self._task = asyncio.create_task(
            self._run(dispatch), name=f"tidegate:dispatch-stream:{self._action.id}"
        )

    async def decided(self) -> None:
        """Return once the stream may start; re-raise the error of a dispatch that failed before that."""
        task = self._running()
        try:
            await asyncio.wait((task, self._decided), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            _detach(task)
            raise
        if not self._decided.done():
            task.result()

    @property
    def frames(self) -> FrameChannel:
        """The stream's frames, ending after ``done``."""
        return self._frames

    async def close(self) -> None:
        """The response ended (``done`` written, client gone, or cancelled): drop unsent frames, then wait
        for the dispatch to end, so the request owns the run until its audit record is written. Cancelling
        this wait never cancels the dispatch: the task stays referenced until it ends."""
        self._frames.close()
        if self._follower is not None:
            self._follower.stop()  # the dispatch is over; nobody reads the chain's entries any more
        task = self._running()
        if not task.done():
            log.info(
                "dispatch stream: the client left before the outcome; the dispatch runs to its end",
                extra={"action_id": self._action.id},
            )
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            _detach(task)
            raise

    # -- DispatchObserver ---------------------------------------------------------------------------

    def on_decided(self, verdict: Verdict | None, priority: int | None) -> None:
        """Queue ``dispatch_started`` and, when a rule decided, ``rule_matched``; then let the 200 go."""
        if self._decided.done():
            return
        action = self._action
        self._push(
            self._events.started(
                action.namespace, action.tenant, action.provider, action.action_type, self._dry_run
            )
        )
        if verdict is not None and verdict.matched_rule is not None:
            self._push(self._events.rule_matched(verdict.matched_rule, verdict.kind.value, priority))
        self._decided.set_result(None)

    async def on_attempt_start(self, provider: str, attempt: int) -> None:
        self._attempts += 1  # numbered across the dispatch, not per provider (§3.4)
        self._push(self._events.attempt_started(self._attempts, provider))

    async def on_attempt_end(
        self, provider: str, attempt: int, error: ProviderError | None, retry_in: float | None
    ) -> None:
        if error is None:
            return
        retry_in_ms = None if retry_in is None else round(retry_in * 1000)
        self._push(self._events.attempt_failed(self._attempts, provider, error.to_json(), retry_in_ms))

    # -- the run ------------------------------------------------------------------------------------

    async def _run(self, dispatch: Dispatch) -> None:
        try:
            result = await dispatch(self)
        except Exception as exc:
            if not self._decided.done():
                raise  # before the 200: ``decided`` re-raises it to the request
            self._fail(*self._describe(exc))
        except asyncio.CancelledError:
            if self._decided.done():
                self._fail("internal_error", "the dispatch was interrupted", False)
            raise
        else:
            self.on_decided(None, None)  # a no-op unless the pipeline skipped the hook
            body = result.body()
            self._push(self._events.outcome(body))
            if not await self._follow_chain(result):
                self._fail("backend_unavailable", "the chain's history is unavailable", True)
                return
            self._push(self._events.done(body))
        finally:
            self._frames.finish()

    async def _follow_chain(self, result: DispatchResult) -> bool:
        """With ``follow``, push the entries of the chain the dispatch started until its end; False when
        its history stayed unreadable (§2.5). Any other outcome has nothing to follow."""
        outcome = result.outcome
        if self._follow is None or not isinstance(outcome, ChainStarted):
            return True
        if self._frames.closed:  # the client left during the dispatch: nobody to follow it for
            return True
        self._follower = follower = self._follow(outcome.chain_id)
        try:
            while (step := await follower.next(BATCH_FRAMES, None)) is not None:
                for entry in step.entries:
                    self._push(named_frame(str(entry.get("type")), entry))  # no envelope, no id
                if step.end is not None:
                    return step.end.reason is not EndReason.UNAVAILABLE
            return True  # stopped (client gone) or drained
        finally:
            follower.close()

    def _fail(self, code: str, message: str, retryable: bool) -> None:
        self._push(self._events.error(code, message, retryable))
        self._push(self._events.failed_done(code, message, retryable))

    def _describe(self, exc: Exception) -> tuple[str, str, bool]:
        """Domain errors keep their code and (secret-free) message; anything else is a logged bug."""
        if isinstance(exc, TidegateError):
            log.warning("dispatch stream: %s after the start", exc.code, extra={"action_id": self._action.id})
            return exc.code, exc.message, exc.retryable
        log.error(
            "dispatch stream: internal error after the start",
            exc_info=exc,
            extra={"action_id": self._action.id},
        )
        return "internal_error", "internal error", False

    def _push(self, frame: bytes) -> None:
        self._frames.put(frame)

    def _running(self) -> asyncio.Task[None]:
        if self._task is None:
            raise RuntimeError("StreamedDispatch.start was not called")
        return self._task


def _detach(task: asyncio.Task[None]) -> None:
    """Keep a run nobody awaits any more referenced until it ends, and collect its result then."""
    if task.done():
        _collect(task)
        return
    _DETACHED.add(task)
    task.add_done_callback(_collect)


def _collect(task: asyncio.Task[None]) -> None:
    _DETACHED.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.info("dispatch stream: the request left before its dispatch failed: %r", task.exception())
