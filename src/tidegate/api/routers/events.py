"""``GET /v1/events``, ``GET /v1/events/{fingerprint}`` and ``PUT /v1/events/{fingerprint}/transition``
(api.md §6): the state-machine events (``Services.state_machines``), not the stream's event log.

Grants as everywhere: a ``tenant`` filter no grant covers is 403 (G2), a list without one holds and counts
only covered events (G4), and an event outside the grants answers 404 exactly like a missing one, after
the same store read (G3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from tidegate.api.body import read_json, validate
from tidegate.api.deps import CallerDep, ServicesDep
from tidegate.api.event_state_schemas import TransitionBody
from tidegate.api.openapi import AUTH_ERRORS, BODY_ERRORS, PROTECTED, json_body, ref, responses
from tidegate.api.responses import json_response
from tidegate.api.routers.audit import MAX_OFFSET
from tidegate.api.validation import failed
from tidegate.errors import NotFound
from tidegate.security.tenancy import ensure_lists_tenant, read_scope, sees

__all__ = ["router"]

router = APIRouter(tags=["events"])

Text = Annotated[str | None, Query()]
Required = Annotated[str, Query(description="a fingerprint is unique only within its namespace and tenant")]


@router.get(
    "/v1/events",
    response_class=Response,
    summary="List state-machine events (last updated first)",
    responses=responses(
        {200: ("One page of matching events; `total` counts every match", ref("EventList"))},
        (*AUTH_ERRORS, 422, 503),
    ),
    openapi_extra={"security": PROTECTED},
)
async def list_events(
    caller: CallerDep,
    services: ServicesDep,
    namespace: Text = None,
    tenant: Text = None,
    status: Annotated[str | None, Query(description="a state name, exact match")] = None,
    state_machine: Text = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    ensure_lists_tenant(caller, tenant)
    records = await services.state_machines.states.scan(namespace, tenant)
    everything = read_scope(caller) is None
    matches = [
        record
        for record in records
        if (status is None or record.state == status)
        and (state_machine is None or record.state_machine == state_machine)
        and (everything or sees(caller, record.tenant, record.namespace))
    ]
    matches.sort(key=lambda record: record.fingerprint)
    matches.sort(key=lambda record: record.updated_at, reverse=True)  # stable: fingerprint breaks ties
    page = [record.to_state() for record in matches[offset : offset + limit]]
    return json_response(
        {"events": page, "count": len(page), "total": len(matches), "limit": limit, "offset": offset}
    )


@router.get(
    "/v1/events/{fingerprint}",
    response_class=Response,
    summary="One event's lifecycle state",
    responses=responses({200: ("The event", ref("EventState"))}, (*AUTH_ERRORS, 404, 422, 503)),
    openapi_extra={"security": PROTECTED},
)
async def get_event(
    fingerprint: str, namespace: Required, tenant: Required, caller: CallerDep, services: ServicesDep
) -> Response:
    record = await services.state_machines.states.get(namespace, tenant, fingerprint)
    if record is None or not sees(caller, tenant, namespace):
        raise NotFound(f"event not found: {fingerprint}")
    return json_response(record.to_state())


@router.put(
    "/v1/events/{fingerprint}/transition",
    response_class=Response,
    summary="Move an event to another state of its machine's transition table",
    responses=responses(
        {200: ("The move (a no-op when the target is the current state)", ref("TransitionResult"))},
        (*AUTH_ERRORS, *BODY_ERRORS, 404, 409, 503),
    ),
    openapi_extra={"requestBody": json_body(ref("TransitionBody")), "security": PROTECTED},
)
async def transition_event(
    fingerprint: str,
    request: Request,
    caller: CallerDep,
    services: ServicesDep,
    namespace: Annotated[str | None, Query(description="used when the body has no namespace")] = None,
    tenant: Annotated[str | None, Query(description="used when the body has no tenant")] = None,
) -> Response:
    body = validate(TransitionBody, await read_json(request))
    namespace = body.namespace if body.namespace is not None else namespace
    tenant = body.tenant if body.tenant is not None else tenant
    missing = [name for name, value in (("namespace", namespace), ("tenant", tenant)) if value is None]
    if namespace is None or tenant is None:
        raise failed(
            [{"loc": ["body", name], "msg": "Field required", "type": "missing"} for name in missing]
        )
    state_machines = services.state_machines
    record = await state_machines.states.get(namespace, tenant, fingerprint)
    if record is None or not sees(caller, tenant, namespace):
        raise NotFound(f"event not found: {fingerprint}")
    moved = await state_machines.transition(namespace, tenant, fingerprint, body.target)
    return json_response(moved.to_json())
