"""``POST /v1/dispatch/stream`` (api.md §3.5, stream.md §3): one dispatch, told as it happens.

The request is read exactly as ``POST /v1/dispatch`` reads it (same functions, same order), and the
pipeline runs up to its decision before the 200, so every error a dispatch can answer with is still an
ordinary JSON error (§3.2). Then the SSE frames follow: ``dispatch_started``, ``rule_matched``, each
attempt, ``outcome`` and ``done`` (whose data is the ``/v1/dispatch`` body).

With ``follow=true`` a ``chain_started`` outcome is followed by the chain's history entries until its
terminal entry (or ``timeout`` seconds after the outcome), then ``done`` (§3.4); ``follow`` changes nothing
for any other outcome, nor with ``dry_run``."""

from __future__ import annotations

from collections.abc import Awaitable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tidegate.api.body import read_json, validate
from tidegate.api.deps import authorize, get_caller, services_of
from tidegate.api.openapi import AUTH_ERRORS, BODY_ERRORS, PROTECTED, json_body, ref, responses
from tidegate.api.params import query_bool, stream_timeout
from tidegate.api.rate_limits import limit_tenant
from tidegate.api.routers.dispatch import _PARAMETERS as DISPATCH_PARAMETERS
from tidegate.api.sse import sse_response
from tidegate.api.streamed_dispatch import Follow, StreamedDispatch
from tidegate.api.trace import trace_context
from tidegate.chains.stream import HistoryFollower
from tidegate.errors import StreamingDisabled
from tidegate.model.action import ActionRequest
from tidegate.pipeline.observer import DispatchObserver
from tidegate.pipeline.result import DispatchResult
from tidegate.security.tenancy import ensure_creates
from tidegate.services import Services
from tidegate.stream.dispatch_events import DispatchEvents, trace_id_of

__all__ = ["router"]

router = APIRouter(tags=["dispatch"])

_PARAMETERS = [
    *DISPATCH_PARAMETERS,
    {
        "name": "follow",
        "in": "query",
        "required": False,
        "description": "After a `chain_started` outcome, stream the chain's history entries until it ends",
        "schema": {"type": "boolean", "default": False},
    },
    {
        "name": "timeout",
        "in": "query",
        "required": False,
        "description": "Seconds to follow a chain before `done` (applies to `follow` only)",
        "schema": {"type": "number", "minimum": 1, "maximum": 3600, "default": 300},
    },
]

_STREAM_SCHEMA = {
    "type": "string",
    "description": (
        "Server-Sent Events, `event: <name>\\ndata: <json>\\n\\n` without ids: `dispatch_started`, "
        "[`rule_matched`], (`attempt_started` [`attempt_failed`])*, `outcome`, with `follow=true` after a "
        "`chain_started` outcome the chain's history entries (`event: <entry type>`), then `done` (the "
        "/v1/dispatch body); or, after an internal failure, `error` then `done` with `outcome` null. "
        "`: ping` comments keep an idle connection open."
    ),
}


def _documented() -> dict[int | str, dict[str, object]]:
    documented = responses(
        {200: ("The dispatch as it happens, as SSE frames (stream.md §3)", _STREAM_SCHEMA)},
        (*AUTH_ERRORS, *BODY_ERRORS, 404, 503),
        media_type="text/event-stream",
    )
    documented[503] = {
        **documented[503],
        "description": "A backend is unreachable (`backend_unavailable`), or streaming is switched off "
        "(`streaming_disabled`)",
    }
    return documented


@router.post(
    "/v1/dispatch/stream",
    response_class=Response,
    summary="Dispatch one action and stream its progress",
    responses=_documented(),
    openapi_extra={
        "parameters": _PARAMETERS,
        "requestBody": json_body(ref("ActionRequest"), "The action (api.md §3.1)"),
        "security": PROTECTED,
    },
)
async def dispatch_stream(request: Request) -> Response:
    services = services_of(request)
    caller = await authorize(request, await get_caller(request))
    if not services.settings.stream.enabled:
        raise StreamingDisabled("streaming is disabled")
    body = await read_json(request)
    dry_run = query_bool(request, "dry_run")
    follow = query_bool(request, "follow")
    timeout = stream_timeout(request)
    headers = request.headers
    trace = trace_context(headers.get("traceparent"), headers.get("tracestate"))
    action = validate(ActionRequest, body).normalize(services.clock.now(), trace)
    ensure_creates(caller, action.tenant, action.namespace, action.provider, action.action_type)
    if not dry_run:
        await limit_tenant(request, services, action.tenant)
    events = DispatchEvents(action.id, trace_id_of(action.trace_context), services.clock.now)
    run = StreamedDispatch(action, dry_run, events, _follower(services, timeout) if follow else None)

    def dispatch(observer: DispatchObserver) -> Awaitable[DispatchResult]:
        return services.gateway.dispatch(action, caller, dry_run=dry_run, observer=observer)

    run.start(dispatch)
    await run.decided()
    uncount = services.metrics.stream_opened()

    async def close() -> None:
        uncount()  # the connection is over, even while ``run.close`` waits for the dispatch to end
        await run.close()

    return sse_response(run.frames, keep_alive=services.settings.stream.keep_alive_seconds, on_close=close)


def _follower(services: Services, timeout: float) -> Follow:
    """Opens a follower of a chain this dispatch started: from ``seq`` 1, for ``timeout`` seconds."""

    def follow(chain_id: str) -> HistoryFollower:
        return HistoryFollower(
            services.chains.repository, services.execution_watch, chain_id, after=0, timeout=timeout
        )

    return follow
