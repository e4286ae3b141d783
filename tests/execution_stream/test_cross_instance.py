"""A per-execution stream on instance A follows a chain whose steps run on instance B (stream.md §2,
features.md §20): two real servers on one Redis (state and event log), and on one PostgreSQL. A runs no
background workers, so every step runs on B; A's stream is woken by the ``chain_*`` events B appends to the
shared log (and its bounded poll), and shows every entry live, in order, then ``done``. A reconnect to
the other instance with ``Last-Event-ID`` resumes without a gap or a repeat."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_settings
from tests.cluster._cluster import shared_state
from tests.execution_stream._harness import (
    CHAIN_RULES,
    StepTarget,
    chain_sections,
    open_stream,
    pipeline_action,
    step_target,
)
from tests.execution_stream.test_execution_events import COMPLETED_RUN, check_done, check_entry
from tests.helpers.server import running_server
from tidegate.chains import stream as stream_module


@pytest.fixture
def target() -> Iterator[StepTarget]:
    with step_target() as running:
        yield running


@pytest.fixture(params=["redis", "postgres"])
async def pair(
    request: pytest.FixtureRequest, tmp_path: Path, target: StepTarget
) -> AsyncIterator[list[str]]:
    """URLs of A (no background workers) and B (workers), sharing state and the event log."""
    async with shared_state(request.param) as state, AsyncExitStack() as stack:
        urls = []
        for name, workers in (("a", False), ("b", True)):
            home = tmp_path / name
            (home / "rules").mkdir(parents=True)
            (home / "rules" / "10-chain.yaml").write_text(CHAIN_RULES)
            background = {"enabled": workers, "poll_interval_seconds": 0.1}
            settings = make_settings(home, state=state, **chain_sections(target.url, background=background))
            urls.append(await stack.enter_async_context(running_server(settings)))
        yield urls
        target.release_all()


async def test_a_stream_on_one_instance_follows_steps_run_on_another(
    pair: list[str], target: StepTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No safety-net poll within the test's patience: only the shared log's events can wake A's streams.
    monkeypatch.setattr(stream_module, "POLL_SECONDS", 600.0)
    target.hold("b")
    async with (
        httpx.AsyncClient(base_url=pair[0], timeout=10.0) as a,
        httpx.AsyncClient(base_url=pair[1], timeout=10.0) as b,
    ):
        started = await a.post("/v1/dispatch", json=pipeline_action())
        assert started.status_code == 200, started.text
        chain_id = started.json()["chain_id"]
        path = f"/v1/executions/{chain_id}/events"
        async with open_stream(a, path) as stream:
            first = await stream.events(5)  # up to step b's start, written by B
            await target.arrived("b", chain_id)
        for seq, frame in enumerate(first, start=1):
            check_entry(frame, chain_id, seq, COMPLETED_RUN[seq - 1])
        async with open_stream(b, path, headers={"Last-Event-ID": "4"}) as stream:  # the other instance
            [again] = await stream.events(1)
            check_entry(again, chain_id, 5, "step_start")
        async with open_stream(a, path, headers={"Last-Event-ID": "5"}) as stream:
            target.release("b")  # from here on, A learns of every entry from B's events
            rest = await stream.rest()
    for seq, frame in enumerate(rest[:-1], start=6):
        check_entry(frame, chain_id, seq, COMPLETED_RUN[seq - 1])
    assert len(rest) - 1 == len(COMPLETED_RUN) - 5
    check_done(rest[-1], chain_id, "completed", "terminal")
