"""A real uvicorn serving the app for stream tests, with the hooks those tests need.

``StreamServer`` publishes events straight into the server's event log (on the server's own loop), reads
its services (broadcaster, connection slots) and uvicorn connections, and remembers the request headers of
every ``/v1/stream`` request. A test may act as a scoped caller by sending ``X-Test-Grants: acme,beta``
(a stand-in for authentication, which does not exist yet: the override replaces ``get_caller``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from tests.helpers.server import ServerThread
from tidegate.api.app import create_app
from tidegate.api.deps import get_caller
from tidegate.config import Settings
from tidegate.model.caller import ANONYMOUS, AuthMethod, Caller, Grant, Role
from tidegate.model.event import EventType, StreamEvent
from tidegate.services import Services
from tidegate.stream.emit import new_event

__all__ = ["StreamServer", "make", "one_of_each"]

GRANTS_HEADER = "x-test-grants"


async def caller_from_test_header(request: Request) -> Caller:
    """The anonymous admin, or a viewer holding one grant on the tenants listed in ``X-Test-Grants``."""
    tenants = request.headers.get(GRANTS_HEADER)
    if tenants is None:
        return ANONYMOUS
    return Caller("tester", AuthMethod.API_KEY, Role.VIEWER, (Grant(tenants=tuple(tenants.split(","))),))


class _Probe:
    """ASGI wrapper: remembers the server's event loop and the headers of each ``/v1/stream`` request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stream_headers: list[dict[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self.loop = asyncio.get_running_loop()
        elif scope["type"] == "http" and scope["path"] == "/v1/stream":
            headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
            self.stream_headers.append(headers)
        await self.app(scope, receive, send)


class StreamServer:
    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.app.dependency_overrides[get_caller] = caller_from_test_header
        self._probe = _Probe(self.app)
        self._thread = ServerThread(self._probe)
        self.url = ""

    def start(self) -> StreamServer:
        self.url = self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    @property
    def stream_headers(self) -> list[dict[str, str]]:
        return self._probe.stream_headers

    def write_buffer_sizes(self) -> list[int]:
        """Bytes waiting in each open connection's transport (what the server holds beyond the queues)."""
        connections = self._thread.server.server_state.connections
        return [conn.transport.get_write_buffer_size() for conn in list(connections)]  # type: ignore[attr-defined]

    async def publish(self, events: Iterable[StreamEvent]) -> list[StreamEvent]:
        """Append to the server's event log, on its loop, as the recorder does; returns the events."""
        batch = list(events)
        assert self._probe.loop is not None
        future = asyncio.run_coroutine_threadsafe(self.services.events.append(batch), self._probe.loop)
        await asyncio.wrap_future(future)
        return batch

    async def wait_for(self, condition: Callable[[], bool], within: float = 2.0) -> None:
        """Poll ``condition`` until it holds; fail after ``within`` seconds."""
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition still false after {within} s")
            await asyncio.sleep(0.01)

    def idle(self) -> bool:
        """No subscriber and no connection slot held: every earlier stream has been cleaned up."""
        return self.services.broadcaster.subscriber_count == 0 and self.services.connections.total == 0


_OUTCOME = {"Executed": {"status": "success", "body": None, "headers": {}}}

#: Own fields of one valid event per type (stream.md §1.4-§1.5), and whether it takes an action id.
_SAMPLES: dict[EventType, tuple[dict[str, Any], bool, bool]] = {
    EventType.ACTION_DISPATCHED: ({"outcome": _OUTCOME, "provider": "email"}, True, True),
    EventType.GROUP_FLUSHED: ({"group_id": "g-1", "event_count": 5}, False, False),
    EventType.TIMEOUT: (
        {"fingerprint": "fp", "state_machine": "alert", "previous_state": "firing", "new_state": "stale"},
        True,
        False,
    ),
    EventType.CHAIN_ADVANCED: (
        {
            "chain_id": "c-1",
            "chain_name": "search",
            "step_name": "s",
            "step_index": 0,
            "step_status": "completed",
            "attempt": 1,
        },
        False,
        False,
    ),
    EventType.APPROVAL_REQUIRED: (
        {"approval_id": "ap-1", "rule": "r", "expires_at": "2026-02-07T15:30:00.000000Z"},
        True,
        True,
    ),
    EventType.GROUP_EVENT_ADDED: ({"group_id": "g-1", "group_key": "k", "event_count": 3}, True, True),
    EventType.ACTION_STATUS_CHANGED: (
        {"fingerprint": "fp", "state_machine": "alert", "previous_status": "firing", "new_status": "ack"},
        True,
        True,
    ),
    EventType.APPROVAL_RESOLVED: ({"approval_id": "ap-1", "decision": "approved"}, True, True),
    EventType.CHAIN_STEP_COMPLETED: (
        {"chain_id": "c-1", "step_name": "s", "step_index": 0, "success": True, "next_step": None},
        False,
        False,
    ),
    EventType.CHAIN_COMPLETED: (
        {"chain_id": "c-1", "status": "completed", "execution_path": ["s"]},
        False,
        False,
    ),
}


def make(
    kind: EventType = EventType.ACTION_DISPATCHED,
    *,
    namespace: str = "alerts",
    tenant: str = "acme",
    action_type: str = "send_email",
    outcome: object = None,
    action_id: str = "019c3882-7b00-7c21-8d4e-5f6a7b8c9d01",
) -> StreamEvent:
    """A valid event of ``kind`` stamped now; ``outcome`` replaces an ``action_dispatched`` outcome."""
    fields, has_type, has_id = _SAMPLES[kind]
    if outcome is not None:
        fields = {**fields, "outcome": outcome}
    return new_event(
        kind,
        namespace=namespace,
        tenant=tenant,
        fields=fields,
        now=datetime.now(UTC),
        action_type=action_type if has_type else None,
        action_id=action_id if has_id else None,
    )


def one_of_each(*, namespace: str = "alerts", tenant: str = "acme") -> list[StreamEvent]:
    """One event of every one of the ten types, in the order of the spec's table."""
    return [make(kind, namespace=namespace, tenant=tenant) for kind in EventType]
