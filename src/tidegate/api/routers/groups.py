"""``GET /v1/groups``, ``GET /v1/groups/{group_key}`` and ``DELETE /v1/groups/{group_key}`` (api.md §8).

Grants as everywhere: a ``tenant`` filter no grant covers is 403 (G2), a list without one holds and counts
only covered groups (G4), and a group outside the grants answers 404 exactly like a missing one, after
the same store read (G3). The DELETE is a real flush: the pending batch's notification is dispatched
before the answer, which carries its outcome."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from tidegate.api.deps import CallerDep, ServicesDep
from tidegate.api.openapi import AUTH_ERRORS, PROTECTED, ref, responses
from tidegate.api.responses import json_response
from tidegate.api.routers.audit import MAX_OFFSET
from tidegate.errors import NotFound
from tidegate.groups import Group
from tidegate.model.caller import Caller
from tidegate.model.json import JsonObject
from tidegate.security.tenancy import ensure_lists_tenant, read_scope, sees

__all__ = ["router"]

router = APIRouter(tags=["groups"])

Text = Annotated[str | None, Query()]
StateFilter = Annotated[Literal["pending", "notified", "all"], Query(description="default `all`")]
_NOTIFIED = frozenset({"executed", "rerouted"})


@router.get(
    "/v1/groups",
    response_class=Response,
    summary="List the active event groups (newest first)",
    responses=responses(
        {200: ("One page of matching groups; `total` counts every match", ref("GroupList"))},
        (*AUTH_ERRORS, 422, 503),
    ),
    openapi_extra={"security": PROTECTED},
)
async def list_groups(
    caller: CallerDep,
    services: ServicesDep,
    namespace: Text = None,
    tenant: Text = None,
    state: StateFilter = "all",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    ensure_lists_tenant(caller, tenant)
    everything = read_scope(caller) is None
    matches = [
        group
        for group in await services.groups.list_all()
        if (namespace is None or group.namespace == namespace)
        and (tenant is None or group.tenant == tenant)
        and (state == "all" or group.state.value == state)
        and (everything or sees(caller, group.tenant, group.namespace))
    ]
    matches.sort(key=lambda group: (group.created_at, group.group_id), reverse=True)
    page = [group.to_json() for group in matches[offset : offset + limit]]
    return json_response(
        {"groups": page, "count": len(page), "total": len(matches), "limit": limit, "offset": offset}
    )


@router.get(
    "/v1/groups/{group_key}",
    response_class=Response,
    summary="One group and its batch's events",
    responses=responses(
        {200: ("The group and its events, oldest first", ref("GroupDetail"))}, (*AUTH_ERRORS, 404, 503)
    ),
    openapi_extra={"security": PROTECTED},
)
async def get_group(group_key: str, caller: CallerDep, services: ServicesDep) -> Response:
    group = await services.groups.get(group_key)
    if group is None or not _visible(caller, group):
        raise NotFound(f"group not found: {group_key}")
    events = [member.event_json() for member in group.batch]
    return json_response({"group": group.to_json(), "events": events})


@router.delete(
    "/v1/groups/{group_key}",
    response_class=Response,
    summary="Flush a group now, then close it",
    responses=responses(
        {200: ("The flush and its notification's dispatch body", ref("GroupFlushResult"))},
        (*AUTH_ERRORS, 404, 503),
    ),
    openapi_extra={"security": PROTECTED},
)
async def flush_group(group_key: str, caller: CallerDep, services: ServicesDep) -> Response:
    closed = await services.groups.close_group(group_key, lambda group: _visible(caller, group))
    result = closed.notification
    notification: JsonObject | None = None if result is None else result.body()
    body: JsonObject = {
        "group_id": closed.group.group_id,
        "group_key": closed.group.group_key,
        "event_count": closed.event_count,
        "status": "flushed" if closed.event_count else "closed",
        "notified": result is not None and result.outcome.category in _NOTIFIED,
        "notification": notification,
    }
    return json_response(body)


def _visible(caller: Caller, group: Group) -> bool:
    return sees(caller, group.tenant, group.namespace)
