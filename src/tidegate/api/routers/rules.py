"""``GET /v1/rules``, ``POST /v1/rules/reload``, ``PUT /v1/rules/{name}/enabled`` (api.md §4, D7)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tidegate.api.body import read_json, validate
from tidegate.api.deps import ServicesDep, authorize
from tidegate.api.openapi import AUTH_ERRORS, BODY_ERRORS, PROTECTED, json_body, ref, responses
from tidegate.api.responses import json_response
from tidegate.api.schemas import EnabledBody
from tidegate.errors import NotFound

__all__ = ["router"]

router = APIRouter(tags=["rules"], dependencies=[Depends(authorize)])


@router.get(
    "/v1/rules",
    response_class=Response,
    summary="The rules in evaluation order",
    responses=responses({200: ("Every rule, toggles applied", ref("RuleList"))}, AUTH_ERRORS),
    openapi_extra={"security": PROTECTED},
)
async def list_rules(services: ServicesDep) -> Response:
    return json_response({"rules": services.rulebook.listing()})


@router.post(
    "/v1/rules/reload",
    response_class=Response,
    summary="Re-read the rule sources and swap the rule set atomically",
    responses=responses(
        {200: ("The reload report; `applied` is false when any file is invalid", ref("ReloadResult"))},
        (*AUTH_ERRORS, 503),
    ),
    openapi_extra={"security": PROTECTED},
)
async def reload_rules(services: ServicesDep) -> Response:
    return json_response(await services.rulebook.reload())


@router.put(
    "/v1/rules/{name}/enabled",
    response_class=Response,
    summary="Turn a rule on or off at runtime (survives reload and restart)",
    responses=responses(
        {200: ("The rule's new effective state", ref("EnabledResult"))},
        (*AUTH_ERRORS, *BODY_ERRORS, 404, 503),
    ),
    openapi_extra={"requestBody": json_body(ref("EnabledBody")), "security": PROTECTED},
)
async def set_rule_enabled(name: str, request: Request, services: ServicesDep) -> Response:
    enabled = validate(EnabledBody, await read_json(request)).enabled
    if not await services.rulebook.set_enabled(name, enabled):
        raise NotFound(f"rule not found: {name}")
    return json_response({"name": name, "enabled": enabled})
