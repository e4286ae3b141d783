"""``POST /v1/dispatch`` and ``POST /v1/dispatch/batch`` (api.md §3.2-3.4).

Both are on the benchmarked hot path, so they skip FastAPI's parameter and body machinery: they take the
raw ``Request``, read and check the body themselves (``api/body.py``) and return orjson bytes. Their
parameters and bodies are documented through ``openapi_extra``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tidegate.api.batch import batch_items, check_item, item_error, run_bounded
from tidegate.api.body import read_json, validate
from tidegate.api.deps import authorize, get_caller, services_of
from tidegate.api.openapi import AUTH_ERRORS, BODY_ERRORS, PROTECTED, Responses, json_body, ref, responses
from tidegate.api.params import query_bool
from tidegate.api.rate_limits import limit_tenant
from tidegate.api.request_id import request_id_of
from tidegate.api.responses import json_response
from tidegate.api.trace import trace_context_of
from tidegate.model.action import ActionRequest
from tidegate.model.json import JsonObject, JsonValue, dumps
from tidegate.security.tenancy import ensure_creates

__all__ = ["router"]

router = APIRouter(tags=["dispatch"])

_SPOOLED = {"X-Audit-Status": "spooled"}

_PARAMETERS = [
    {
        "name": "dry_run",
        "in": "query",
        "required": False,
        "description": "Evaluate the rules only: no execution, no state change, no audit record",
        "schema": {"type": "boolean", "default": False},
    },
    {
        "name": "traceparent",
        "in": "header",
        "required": False,
        "description": "W3C trace context; stored on the action when valid, ignored otherwise",
        "schema": {"type": "string"},
    },
    {
        "name": "tracestate",
        "in": "header",
        "required": False,
        "description": "W3C trace state; kept only with a valid traceparent",
        "schema": {"type": "string"},
    },
]

_BATCH_BODY = {
    "oneOf": [
        {
            "type": "object",
            "properties": {"actions": {"type": "array", "items": ref("ActionRequest"), "maxItems": 1000}},
            "required": ["actions"],
        },
        {"type": "array", "items": ref("ActionRequest"), "maxItems": 1000},
    ]
}

_AUDIT_SPOOLED_HEADER = {
    "X-Audit-Status": {
        "description": "`spooled` when the audit write failed after execution and the record was spooled",
        "schema": {"type": "string", "enum": ["spooled"]},
    }
}


def _with_spool_header(documented: Responses) -> Responses:
    documented[200]["headers"] = dict(_AUDIT_SPOOLED_HEADER)
    return documented


@router.post(
    "/v1/dispatch",
    response_class=Response,
    summary="Dispatch one action",
    responses=_with_spool_header(
        responses(
            {200: ("The outcome of the pipeline run (any category)", ref("DispatchOutcome"))},
            (*AUTH_ERRORS, *BODY_ERRORS, 404, 503),
        )
    ),
    openapi_extra={
        "parameters": _PARAMETERS,
        "requestBody": json_body(ref("ActionRequest"), "The action (api.md §3.1)"),
        "security": PROTECTED,
    },
)
async def dispatch(request: Request) -> Response:
    # Also served by api/shortcut.py in front of FastAPI's routing: use only the raw Request here.
    services = services_of(request)
    caller = await authorize(request, await get_caller(request))
    body = await read_json(request)
    dry_run = query_bool(request, "dry_run")
    action = validate(ActionRequest, body).normalize(services.clock.now(), _trace(request))
    ensure_creates(caller, action.tenant, action.namespace, action.provider, action.action_type)
    if not dry_run:
        await limit_tenant(request, services, action.tenant)
    result = await services.gateway.dispatch(action, caller, dry_run=dry_run)
    headers = _SPOOLED if result.audit_spooled else None
    return Response(dumps(result.body()), media_type="application/json", headers=headers)


@router.post(
    "/v1/dispatch/batch",
    response_class=Response,
    summary="Dispatch many actions, each on its own",
    responses=_with_spool_header(
        responses(
            {200: ("One result per action, in input order", ref("BatchResponse"))},
            (*AUTH_ERRORS, *BODY_ERRORS, 503),
        )
    ),
    openapi_extra={
        "parameters": _PARAMETERS,
        "requestBody": json_body(_BATCH_BODY, '`{"actions":[...]}` or a bare array; at most 1000 actions'),
        "security": PROTECTED,
    },
)
async def dispatch_batch(request: Request) -> Response:
    services = services_of(request)
    caller = await authorize(request, await get_caller(request))
    body = await read_json(request, check_nesting=False)
    dry_run = query_bool(request, "dry_run")
    items = batch_items(body)
    trace = _trace(request)
    request_id = request_id_of(request.scope)
    item_limit = services.settings.server.max_body_bytes
    spooled = False

    async def run(item: JsonValue) -> JsonObject:
        nonlocal spooled
        try:
            check_item(item, item_limit)
            action = validate(ActionRequest, item, prefix=()).normalize(services.clock.now(), trace)
            ensure_creates(caller, action.tenant, action.namespace, action.provider, action.action_type)
            if not dry_run:  # each item counts once; one over the limit is that item's error
                await limit_tenant(request, services, action.tenant, report=False)
            result = await services.gateway.dispatch(action, caller, dry_run=dry_run)
        except Exception as exc:
            return item_error(exc, request_id)
        spooled = spooled or result.audit_spooled
        return {"status": "success", "outcome": result.body()}

    results = await run_bounded(items, run, services.settings.server.batch_concurrency)
    return json_response({"results": results}, headers=_SPOOLED if spooled else None)


def _trace(request: Request) -> dict[str, str]:
    return trace_context_of(request.scope["headers"])
