"""The recurring-action endpoints (api.md §12) over ``Services.recurring`` (features.md §17).

Create checks in the spec's order: the body (400), the cron, the zone, the grant (G1), the provider, then
the per-tenant cap (in the service). The entity endpoints locate the action by id and by ``namespace`` and
``tenant`` from the query or the body; an action in another namespace or tenant, or outside the caller's
grants (G3), answers 404 exactly like an unknown id."""

from __future__ import annotations

import logging
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from tidegate.api.body import read_json, validate
from tidegate.api.deps import CallerDep, ServicesDep
from tidegate.api.openapi import AUTH_ERRORS, PROTECTED, json_body, ref, responses
from tidegate.api.recurring_schemas import RecurringCreate, RecurringUpdate
from tidegate.api.responses import json_response
from tidegate.api.routers.audit import MAX_OFFSET
from tidegate.api.validation import failed
from tidegate.errors import Forbidden, InvalidBody, NotFound, ProviderNotFound, ValidationFailed
from tidegate.model.caller import Caller
from tidegate.model.ids import new_id
from tidegate.model.json import JsonValue
from tidegate.recurring.record import RecurringAction
from tidegate.security.tenancy import ensure_creates, ensure_lists_tenant, read_scope, sees
from tidegate.services import Services

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["recurring"])

M = TypeVar("M", RecurringCreate, RecurringUpdate)
Placement = Annotated[str | None, Query(description="required here or in the JSON body")]


def _body_checked(model: type[M], body: JsonValue) -> M:
    """Validation errors as 400 (the seed), with the same ``detail`` list as a 422."""
    try:
        return validate(model, body)
    except ValidationFailed as exc:
        raise InvalidBody(exc.message, exc.detail) from None


@router.post(
    "/v1/recurring",
    response_class=Response,
    status_code=201,
    summary="Create a recurring action",
    responses=responses(
        {201: ("Created; `Location` names it", ref("RecurringCreated"))},
        (400, *AUTH_ERRORS, 404, 409, 413, 415, 503),
    ),
    openapi_extra={"requestBody": json_body(ref("RecurringCreate")), "security": PROTECTED},
)
async def create_recurring(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    body = _body_checked(RecurringCreate, await read_json(request))
    timezone = body.timezone or "UTC"
    recurring = services.recurring
    recurring.schedule(body.cron_expr, timezone)
    ensure_creates(caller, body.tenant, body.namespace, body.provider, body.action_type)
    if body.provider not in services.providers:
        raise ProviderNotFound(body.provider)
    now = services.clock.now()
    draft = RecurringAction(
        recurring_id=new_id(),
        namespace=body.namespace,
        tenant=body.tenant,
        cron_expr=body.cron_expr.strip(),
        timezone=timezone,
        enabled=True if body.enabled is None else body.enabled,
        provider=body.provider,
        action_type=body.action_type,
        payload={} if body.payload is None else body.payload,
        metadata=dict(body.metadata or {}),
        dedup_key=body.dedup_key,
        description=body.description,
        next_execution=None,
        last_executed_at=None,
        execution_count=0,
        ends_at=body.ends_at,
        max_executions=body.max_executions,
        created_at=now,
        updated_at=now,
    )
    created = await recurring.create(draft)
    log.info("recurring action %s created by %s", created.recurring_id, caller.caller_id)
    wire = created.to_json()
    answer = {
        key: wire[key] for key in ("recurring_id", "next_execution", "cron_expr", "timezone", "enabled")
    }
    return json_response(answer, status=201, headers={"Location": f"/v1/recurring/{created.recurring_id}"})


@router.get(
    "/v1/recurring",
    response_class=Response,
    summary="List recurring actions (newest first)",
    responses=responses(
        {200: ("One page of matching actions; `total` counts every match", ref("RecurringList"))},
        (*AUTH_ERRORS, 422, 503),
    ),
    openapi_extra={"security": PROTECTED},
)
async def list_recurring(
    caller: CallerDep,
    services: ServicesDep,
    namespace: Annotated[str, Query()],
    tenant: Annotated[str, Query()],
    enabled: Annotated[bool | None, Query()] = None,
    status: Annotated[str | None, Query(pattern="^(active|paused)$", description="alias of enabled")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    if status is not None:
        wanted = status == "active"
        if enabled is not None and enabled != wanted:
            msg = "enabled and status disagree"
            raise failed([{"loc": ["query", "status"], "msg": msg, "type": "value_error"}])
        enabled = wanted
    ensure_lists_tenant(caller, tenant)
    everything = read_scope(caller) is None
    matches = [
        action
        for action in await services.recurring.list_all()
        if action.namespace == namespace
        and action.tenant == tenant
        and (enabled is None or action.enabled == enabled)
        and (everything or sees(caller, action.tenant, action.namespace))
    ]
    page = [action.to_json() for action in matches[offset : offset + limit]]
    return json_response(
        {
            "recurring_actions": page,
            "count": len(page),
            "total": len(matches),
            "limit": limit,
            "offset": offset,
        }
    )


async def _located(
    request: Request,
    services: Services,
    caller: Caller,
    recurring_id: str,
    namespace: str | None,
    tenant: str | None,
    *,
    status: int = 422,
    body: RecurringUpdate | None = None,
) -> RecurringAction:
    """The action at (id, namespace, tenant), from the query or the body; else 404 (G3 included)."""
    if body is None and _has_body(request):
        body = validate(RecurringUpdate, await read_json(request))
    sent = {"namespace": namespace, "tenant": tenant}
    issues: list[dict[str, object]] = []
    for name in ("namespace", "tenant"):
        in_body = None if body is None else getattr(body, name)
        if in_body is not None and sent[name] is not None and in_body != sent[name]:
            issues.append({"loc": ["body", name], "msg": "differs from the query", "type": "value_error"})
        sent[name] = sent[name] if sent[name] is not None else in_body
        if sent[name] is None:
            issues.append({"loc": ["query", name], "msg": "Field required", "type": "missing"})
    if issues:
        problem = failed(issues)
        raise InvalidBody(problem.message, problem.detail) if status == 400 else problem
    action = await services.recurring.get(recurring_id)
    if (
        action is None
        or (action.namespace, action.tenant) != (sent["namespace"], sent["tenant"])
        or not sees(caller, action.tenant, action.namespace)
    ):
        raise NotFound(f"recurring action not found: {recurring_id}")
    return action


def _has_body(request: Request) -> bool:
    """Whether the request sent a body (read once, by ``read_json``)."""
    headers = request.headers
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


@router.get(
    "/v1/recurring/{recurring_id}",
    response_class=Response,
    summary="One recurring action",
    responses=responses({200: ("The action", ref("Recurring"))}, (*AUTH_ERRORS, 404, 422, 503)),
    openapi_extra={"security": PROTECTED},
)
async def get_recurring(
    recurring_id: str,
    request: Request,
    caller: CallerDep,
    services: ServicesDep,
    namespace: Placement = None,
    tenant: Placement = None,
) -> Response:
    action = await _located(request, services, caller, recurring_id, namespace, tenant)
    return json_response(action.to_json())


@router.put(
    "/v1/recurring/{recurring_id}",
    response_class=Response,
    summary="Change a recurring action (a partial update)",
    responses=responses(
        {200: ("The changed action", ref("Recurring"))}, (400, *AUTH_ERRORS, 404, 413, 415, 503)
    ),
    openapi_extra={"requestBody": json_body(ref("RecurringUpdate")), "security": PROTECTED},
)
async def update_recurring(
    recurring_id: str,
    request: Request,
    caller: CallerDep,
    services: ServicesDep,
    namespace: Placement = None,
    tenant: Placement = None,
) -> Response:
    body = _body_checked(RecurringUpdate, await read_json(request))
    where_tenant, where_namespace = body.tenant or tenant, body.namespace or namespace
    if where_tenant and where_namespace and not sees(caller, where_tenant, where_namespace):
        msg = f"no grant covers tenant '{where_tenant}' and namespace '{where_namespace}'"
        raise Forbidden(msg)  # G1 on what the request names, before the entity is read (G3)
    current = await _located(
        request, services, caller, recurring_id, namespace, tenant, status=400, body=body
    )
    sent = body.model_fields_set
    cron_expr = body.cron_expr.strip() if body.cron_expr is not None else current.cron_expr
    timezone = body.timezone if body.timezone is not None else current.timezone
    if "cron_expr" in sent or "timezone" in sent:
        services.recurring.schedule(cron_expr, timezone)
    provider = body.provider or current.provider
    action_type = body.action_type or current.action_type
    ensure_creates(caller, current.tenant, current.namespace, provider, action_type)
    if provider not in services.providers:
        raise ProviderNotFound(provider)
    changes: dict[str, object] = {"cron_expr": cron_expr, "timezone": timezone}
    changes.update(provider=provider, action_type=action_type)
    for name in ("payload", "description", "dedup_key", "ends_at", "max_executions"):
        if name in sent:
            changes[name] = getattr(body, name)
    if "payload" in sent and body.payload is None:
        changes["payload"] = {}
    if body.metadata is not None:
        changes["metadata"] = dict(body.metadata)
    if body.enabled is not None:
        changes["enabled"] = body.enabled
    updated = await services.recurring.update(recurring_id, lambda action: action.replace(**changes))
    log.info("recurring action %s updated by %s", recurring_id, caller.caller_id)
    return json_response(updated.to_json())


@router.delete(
    "/v1/recurring/{recurring_id}",
    response_class=Response,
    status_code=204,
    summary="Delete a recurring action; future fires stop at once",
    responses={
        204: {"description": "Deleted; the body is empty"},
        **responses({}, (*AUTH_ERRORS, 404, 422, 503)),
    },
    openapi_extra={"security": PROTECTED},
)
async def delete_recurring(
    recurring_id: str,
    request: Request,
    caller: CallerDep,
    services: ServicesDep,
    namespace: Placement = None,
    tenant: Placement = None,
) -> Response:
    await _located(request, services, caller, recurring_id, namespace, tenant)
    if not await services.recurring.delete(recurring_id):
        raise NotFound(f"recurring action not found: {recurring_id}")
    log.info("recurring action %s deleted by %s", recurring_id, caller.caller_id)
    return Response(status_code=204)


@router.post(
    "/v1/recurring/{recurring_id}/pause",
    response_class=Response,
    summary="Pause a recurring action",
    responses=responses({200: ("The paused action", ref("Recurring"))}, (*AUTH_ERRORS, 404, 409, 422, 503)),
    openapi_extra={"security": PROTECTED},
)
async def pause_recurring(
    recurring_id: str,
    request: Request,
    caller: CallerDep,
    services: ServicesDep,
    namespace: Placement = None,
    tenant: Placement = None,
) -> Response:
    await _located(request, services, caller, recurring_id, namespace, tenant)
    paused = await services.recurring.pause(recurring_id)
    log.info("recurring action %s paused by %s", recurring_id, caller.caller_id)
    return json_response(paused.to_json())


@router.post(
    "/v1/recurring/{recurring_id}/resume",
    response_class=Response,
    summary="Resume a paused recurring action; next_execution from now",
    responses=responses({200: ("The resumed action", ref("Recurring"))}, (*AUTH_ERRORS, 404, 409, 422, 503)),
    openapi_extra={"security": PROTECTED},
)
async def resume_recurring(
    recurring_id: str,
    request: Request,
    caller: CallerDep,
    services: ServicesDep,
    namespace: Placement = None,
    tenant: Placement = None,
) -> Response:
    await _located(request, services, caller, recurring_id, namespace, tenant)
    resumed = await services.recurring.resume(recurring_id)
    log.info("recurring action %s resumed by %s", recurring_id, caller.caller_id)
    return json_response(resumed.to_json())
