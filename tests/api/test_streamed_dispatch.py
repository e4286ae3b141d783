"""``StreamedDispatch`` in-process: who sees a failure, and that nothing the response does cancels the run.

The pipeline is stood in by small dispatch functions; the server-level behaviour is in
``test_dispatch_stream.py``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tidegate.api.streamed_dispatch import StreamedDispatch
from tidegate.errors import RateLimited
from tidegate.model.action import Action
from tidegate.model.outcome import Suppressed
from tidegate.model.verdict import AllowParams, Verdict, VerdictKind
from tidegate.pipeline.observer import DispatchObserver
from tidegate.pipeline.result import DispatchResult
from tidegate.stream.dispatch_events import DispatchEvents

AT = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)
ACTION = Action(
    id="a-1",
    namespace="ns",
    tenant="t",
    provider="log",
    action_type="ping",
    payload=None,
    created_at=AT,
)


def new_run() -> StreamedDispatch:
    return StreamedDispatch(ACTION, False, DispatchEvents(ACTION.id, None, lambda: AT))


async def all_frames(run: StreamedDispatch) -> list[bytes]:
    frames: list[bytes] = []
    while (batch := await run.frames.receive(100, None)) is not None:
        frames.extend(batch)
    return frames


def names(frames: list[bytes]) -> list[str]:
    return [frame.split(b"\n", 1)[0].removeprefix(b"event: ").decode() for frame in frames]


async def test_a_failure_before_the_decision_goes_to_the_request() -> None:
    async def refused(observer: DispatchObserver) -> DispatchResult:
        raise RateLimited("too many dispatches in flight")

    run = new_run()
    run.start(refused)
    with pytest.raises(RateLimited):
        await run.decided()


async def test_cancelling_the_response_never_cancels_the_dispatch() -> None:
    release = asyncio.Event()
    finished = asyncio.Event()

    async def slow(observer: DispatchObserver) -> DispatchResult:
        observer.on_decided(Verdict(VerdictKind.ALLOW, None, ACTION, AllowParams()), None)
        await release.wait()
        finished.set()
        return DispatchResult(ACTION, Suppressed("r"))

    run = new_run()
    run.start(slow)
    await run.decided()
    closing = asyncio.create_task(run.close())
    await asyncio.sleep(0)  # let close() start waiting
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    release.set()
    await asyncio.wait_for(finished.wait(), 5)


async def test_a_pipeline_that_skips_the_hook_still_starts_with_dispatch_started() -> None:
    async def quiet(observer: DispatchObserver) -> DispatchResult:
        return DispatchResult(ACTION, Suppressed("r"))

    run = new_run()
    run.start(quiet)
    await run.decided()
    assert names(await all_frames(run)) == ["dispatch_started", "outcome", "done"]
