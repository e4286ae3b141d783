"""``GET /v1/executions/{execution_id}/events`` and ``GET /v1/chains/{chain_id}/events`` (stream.md §2).

One chain run's durable history as SSE: every entry after ``Last-Event-ID`` (from ``seq`` 1 without it),
live until the terminal entry, then ``done`` with the run's summary. The checks run in the order of
§2.1 and fail with ordinary JSON errors before any SSE byte; then the connection holds a slot of the run's
tenant bucket (§0.6) until it ends. Query values are read from the raw query, not by FastAPI, so the
order of the checks is exactly the spec's; the parameters are documented by hand.

Include this router after the one serving ``/v1/chains/definitions/{name}``: ``definitions`` is not a
chain id, and the definitions route must win for a definition named ``events``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tidegate.api.deps import authorize, services_of
from tidegate.api.execution_frames import ExecutionFrames
from tidegate.api.openapi import AUTH_ERRORS, PROTECTED, query_param, responses
from tidegate.api.params import last_event_id, stream_timeout
from tidegate.api.sse import sse_response
from tidegate.chains.stream import HistoryFollower, RunView
from tidegate.errors import InvalidInput, NotFound, StreamingDisabled
from tidegate.model.caller import Caller
from tidegate.stream.connections import Bucket, release_slot, take_slot
from tidegate.stream.frames import HEARTBEAT
from tidegate.stream.grants import caller_covers

__all__ = ["last_seq", "router"]

router = APIRouter(tags=["stream"])

#: A ``Last-Event-ID`` longer than this is past any history (100 steps, 11 attempts each): read as
#: "after everything", without parsing an arbitrarily long number.
_MAX_SEQ_DIGITS = 18
_PAST_EVERYTHING = 10**_MAX_SEQ_DIGITS


_PARAMETERS = [
    query_param(
        "timeout",
        "Seconds after which the stream ends with `done` (reason `timeout`) if the run has not ended",
        {"type": "number", "minimum": 1, "maximum": 3600, "default": 300},
    ),
    query_param("namespace", "If given, must be the run's namespace (else 404)", {"type": "string"}),
    query_param("tenant", "If given, must be the run's tenant (else 404)", {"type": "string"}),
    query_param("last_event_id", "Read only when the `Last-Event-ID` header is absent", {"type": "string"}),
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "The last `seq` received: only later entries are sent (stream.md §2.4)",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
]

_STREAM_TEXT = (
    "The run's history entries as `id: <seq>`/`event: <type>`/`data: <entry>` frames, then `event: done` "
    "with the ChainSummary and `reason` (terminal, timeout or unavailable); `: heartbeat` keep-alives"
)

_DOCUMENTED = responses(
    {200: (_STREAM_TEXT, {"type": "string"})}, (*AUTH_ERRORS, 400, 404, 422, 503), "text/event-stream"
)
_DOCUMENTED[400]["description"] = "`bad_request`: `Last-Event-ID` is not a non-negative integer"
_DOCUMENTED[404]["description"] = "`not_found`: unknown run, or one the caller's grants do not cover"
_DOCUMENTED[422]["description"] = "`validation_error`: `timeout` is not a number from 1 to 3600"
_DOCUMENTED[429]["description"] = (
    "`rate_limited`, or `too_many_connections` when every SSE slot of the run's tenant is taken "
    "(Retry-After: 5)"
)
_DOCUMENTED[503]["description"] = (
    "`streaming_disabled` in config, or `backend_unavailable`: the history, or the state store holding "
    "the connection slots, is unreachable"
)

_OPENAPI = {"parameters": _PARAMETERS, "security": PROTECTED}


@router.get(
    "/v1/executions/{execution_id}/events",
    response_class=Response,
    summary="One chain run's history, live, resumable with Last-Event-ID",
    responses=_DOCUMENTED,
    openapi_extra=_OPENAPI,
)
async def execution_events(
    request: Request, execution_id: str, caller: Annotated[Caller, Depends(authorize)]
) -> Response:
    return await _open(request, caller, execution_id)


@router.get(
    "/v1/chains/{chain_id}/events",
    response_class=Response,
    summary="One chain run's history, live (the same stream as /v1/executions/{id}/events)",
    responses=_DOCUMENTED,
    openapi_extra=_OPENAPI,
)
async def chain_events(
    request: Request, chain_id: str, caller: Annotated[Caller, Depends(authorize)]
) -> Response:
    return await _open(request, caller, chain_id)


async def _open(request: Request, caller: Caller, chain_id: str) -> Response:
    """The checks of §2.1 in order (401, 429 and 403 ran in ``authorize``), then the stream."""
    services = services_of(request)
    settings = services.settings
    if not settings.stream.enabled:
        raise StreamingDisabled("streaming is disabled")
    timeout = stream_timeout(request)
    after = last_seq(request)
    run = await services.chains.repository.load(chain_id)  # BackendUnavailable: 503
    if run is None or not _matches(request, caller, run):
        raise NotFound(f"chain not found: {chain_id}")  # the wording of the other chain endpoints
    bucket = Bucket(f"tenant:{run.tenant}", settings.server.max_sse_connections_per_tenant)
    slot = await take_slot(services.connections, bucket)
    try:
        follower = HistoryFollower(
            services.chains.repository,
            services.execution_watch,
            run.chain_id,
            after=after,
            timeout=timeout,
            run=run,
        )
    except BaseException:
        await release_slot(services.connections, slot)
        raise
    uncount = services.metrics.stream_opened()

    async def close() -> None:
        follower.close()
        uncount()
        await release_slot(services.connections, slot)

    return sse_response(
        ExecutionFrames(follower),
        keep_alive=settings.stream.keep_alive_seconds,
        comment=HEARTBEAT,
        on_close=close,
    )


def last_seq(request: Request) -> int:
    """``Last-Event-ID`` (else the ``last_event_id`` query value): the last ``seq`` received, 0 if none.

    Anything but ASCII digits (after trimming) is a 400 ``bad_request`` (§2.1); empty counts as absent."""
    value = last_event_id(request)
    if value is None:
        return 0
    if not (value.isascii() and value.isdigit()):
        raise InvalidInput("Last-Event-ID must be a non-negative integer (the last seq received)")
    return _PAST_EVERYTHING if len(value) > _MAX_SEQ_DIGITS else int(value)


def _matches(request: Request, caller: Caller, run: RunView) -> bool:
    """Covered by a grant (G3) and equal to the ``namespace``/``tenant`` the request names, if any."""
    query = request.query_params
    for name, actual in (("namespace", run.namespace), ("tenant", run.tenant)):
        wanted = query.get(name)
        if wanted and wanted != actual:
            return False
    return caller_covers(caller, run.tenant, run.namespace)
