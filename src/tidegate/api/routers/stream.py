"""``GET /v1/stream`` (stream.md §1): every event the caller may see, live, resumable with ``Last-Event-ID``.

The checks run in the order of §1.1 and fail with an ordinary JSON error before any SSE byte; then the
connection holds a slot of its bucket (§0.6) and a broadcaster subscription until the client leaves.
Filters are read from the raw query pairs (``StreamFilter.parse``), not by FastAPI, so a repeated or bad
filter is a 400 ``invalid_filter`` rather than a 422; the parameters are documented by hand."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tidegate.api.deps import authorize, services_of
from tidegate.api.openapi import AUTH_ERRORS, PROTECTED, query_param, responses
from tidegate.api.params import last_event_id
from tidegate.api.sse import sse_response
from tidegate.errors import BackendUnavailable, Forbidden, StreamingDisabled
from tidegate.model.caller import Caller
from tidegate.model.event import EventType
from tidegate.model.outcome import OUTCOME_CATEGORIES
from tidegate.services import Services
from tidegate.stream.connections import connection_bucket, release_slot, take_slot
from tidegate.stream.filters import StreamFilter
from tidegate.stream.frames import PING
from tidegate.stream.grants import caller_covers

__all__ = ["router"]

router = APIRouter(tags=["stream"])

#: How long the event log may take to answer its probe before the request gets 503.
_PROBE_SECONDS = 2.0

_IDENTIFIER = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,256}$"}


_PARAMETERS = [
    query_param("namespace", "Only events of this namespace", _IDENTIFIER),
    query_param(
        "action_type", "Only events of this action type (events without one are dropped)", _IDENTIFIER
    ),
    query_param(
        "outcome",
        "Only `action_dispatched` events of this outcome category",
        {"type": "string", "enum": list(OUTCOME_CATEGORIES)},
    ),
    query_param(
        "event_type", "Only events of this type", {"type": "string", "enum": [t.value for t in EventType]}
    ),
    query_param("tenant", "Only events of this tenant; 403 unless a grant covers it", _IDENTIFIER),
    query_param("chain_id", "Only chain events of this chain", {"type": "string"}),
    query_param("group_id", "Only group events of this group", {"type": "string"}),
    query_param("action_id", "Only events of this action", {"type": "string"}),
    query_param("last_event_id", "Read only when the `Last-Event-ID` header is absent", {"type": "string"}),
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "Replay every retained event after this id first (stream.md §1.10)",
        "schema": {"type": "string"},
    },
]

_STREAM_TEXT = (
    "The event stream: `event`/`id`/`data` frames, `lagged` frames and `: ping` keep-alives (stream.md §1.2)"
)

_DOCUMENTED = responses(
    {200: (_STREAM_TEXT, {"type": "string"})}, (*AUTH_ERRORS, 400, 503), "text/event-stream"
)
_DOCUMENTED[400]["description"] = "`invalid_filter`: a bad enum value or identifier, or a repeated filter"
_DOCUMENTED[429]["description"] = (
    "`rate_limited`, or `too_many_connections` when every SSE slot of the bucket is taken (Retry-After: 5)"
)
_DOCUMENTED[503]["description"] = (
    "`streaming_disabled` in config, or `backend_unavailable`: the event log, or the state store holding "
    "the connection slots, is unreachable"
)


@router.get(
    "/v1/stream",
    response_class=Response,
    summary="Live events, resumable with Last-Event-ID",
    responses=_DOCUMENTED,
    openapi_extra={"parameters": _PARAMETERS, "security": PROTECTED},
)
async def stream(request: Request, caller: Annotated[Caller, Depends(authorize)]) -> Response:
    services = services_of(request)
    settings = services.settings
    if not settings.stream.enabled:
        raise StreamingDisabled("streaming is disabled")
    # The role check (stream_subscribe) ran in ``authorize``: every role holds it (security.md §4), so
    # its place before ``streaming_disabled`` (§1.1) is never observable.
    params = request.query_params.multi_items()
    for name, value in params:
        if name == "tenant" and value and not caller_covers(caller, value):
            raise Forbidden("the tenant filter is not covered by the caller's grants")
    stream_filter = StreamFilter.parse(params)
    bucket = connection_bucket(caller, stream_filter.tenant, settings.server.max_sse_connections_per_tenant)
    slot = await take_slot(services.connections, bucket)
    try:
        await _probe_event_log(services)
        subscription = services.broadcaster.subscribe(
            caller, stream_filter, settings.stream.queue_size, last_event_id(request)
        )
    except BaseException:
        await release_slot(services.connections, slot)
        raise
    uncount = services.metrics.stream_opened()

    async def close() -> None:
        subscription.close()
        uncount()
        await release_slot(services.connections, slot)

    return sse_response(
        subscription, keep_alive=settings.stream.keep_alive_seconds, comment=PING, on_close=close
    )


async def _probe_event_log(services: Services) -> None:
    try:
        async with asyncio.timeout(_PROBE_SECONDS):
            await services.events.ping()
    except (TimeoutError, OSError) as exc:
        raise BackendUnavailable("the event log is unavailable") from exc
