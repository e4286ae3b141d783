"""The chain, execution-history and chain-definition endpoints (api.md §9) over ``Services.chains``.

Runs follow the grant rules everywhere: a ``tenant`` filter no grant covers is 403 (G2), a list without
one holds and counts only covered runs (G4), and a run outside the grants, or whose ``namespace`` /
``tenant`` differ from the ones the request names, answers 404 exactly like an unknown id (G3).
Definitions are global (no grant check). The definition routes are declared before ``/v1/chains/{id}``
so ``definitions`` is never read as a chain id."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from tidegate.api.body import read_json, validate
from tidegate.api.chain_schemas import CancelBody
from tidegate.api.deps import CallerDep, ServicesDep
from tidegate.api.openapi import AUTH_ERRORS, PROTECTED, json_body, ref, responses
from tidegate.api.responses import json_response
from tidegate.api.routers.audit import MAX_OFFSET
from tidegate.chains.run import ChainRun
from tidegate.errors import NotFound
from tidegate.model.caller import Caller
from tidegate.security.tenancy import ensure_lists_tenant, read_scope, sees
from tidegate.services import Services

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["chains"])

Text = Annotated[str | None, Query()]
StatusFilter = Annotated[Literal["running", "completed", "failed", "cancelled", "timed_out"] | None, Query()]

# -- definitions ----------------------------------------------------------------------------------


@router.get(
    "/v1/chains/definitions",
    response_class=Response,
    summary="List the chain definitions (config and API), sorted by name",
    responses=responses({200: ("Every definition", ref("ChainDefinitionList"))}, (*AUTH_ERRORS, 503)),
    openapi_extra={"security": PROTECTED},
)
async def list_definitions(caller: CallerDep, services: ServicesDep) -> Response:
    listed = await services.chains.definitions.listing()
    return json_response({"definitions": [sourced.to_json() for sourced in listed]})


@router.get(
    "/v1/chains/definitions/{name}",
    response_class=Response,
    summary="One chain definition",
    responses=responses({200: ("The definition", ref("ChainDefinitionView"))}, (*AUTH_ERRORS, 404, 503)),
    openapi_extra={"security": PROTECTED},
)
async def get_definition(name: str, caller: CallerDep, services: ServicesDep) -> Response:
    sourced = await services.chains.definitions.get(name)
    if sourced is None:
        raise NotFound(f"chain definition not found: {name}")
    return json_response(sourced.to_json())


@router.put(
    "/v1/chains/definitions/{name}",
    response_class=Response,
    summary="Create (201) or replace (200) an API chain definition",
    responses=responses(
        {
            200: ("Replaced", ref("ChainDefinitionView")),
            201: ("Created", ref("ChainDefinitionView")),
        },
        (400, *AUTH_ERRORS, 409, 413, 415, 422, 503),
    ),
    openapi_extra={"requestBody": json_body(ref("ChainDefinition")), "security": PROTECTED},
)
async def put_definition(name: str, request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    definitions = services.chains.definitions
    definition = definitions.parse(name, await read_json(request))
    created = await definitions.put(definition)
    log.info("chain definition %s %s by %s", name, "created" if created else "replaced", caller.caller_id)
    sourced = await definitions.get(name)
    body = sourced.to_json() if sourced is not None else {}
    return json_response(body, status=201 if created else 200)


@router.delete(
    "/v1/chains/definitions/{name}",
    response_class=Response,
    status_code=204,
    summary="Delete an API chain definition (running chains keep their snapshot)",
    responses={
        204: {"description": "Deleted; the body is empty"},
        **responses({}, (*AUTH_ERRORS, 404, 409, 503)),
    },
    openapi_extra={"security": PROTECTED},
)
async def delete_definition(name: str, caller: CallerDep, services: ServicesDep) -> Response:
    await services.chains.definitions.delete(name, services.rulebook.rules.chains)
    log.info("chain definition %s deleted by %s", name, caller.caller_id)
    return Response(status_code=204)


# -- runs -----------------------------------------------------------------------------------------


@router.get(
    "/v1/chains",
    response_class=Response,
    summary="List chain runs (newest first)",
    responses=responses(
        {200: ("One page of matching runs; `total` counts every match", ref("ChainList"))},
        (*AUTH_ERRORS, 422, 503),
    ),
    openapi_extra={"security": PROTECTED},
)
async def list_chains(
    caller: CallerDep,
    services: ServicesDep,
    namespace: Text = None,
    tenant: Text = None,
    status: StatusFilter = None,
    chain_name: Text = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    ensure_lists_tenant(caller, tenant)
    everything = read_scope(caller) is None

    def visible(run: ChainRun) -> bool:
        return (
            (namespace is None or run.namespace == namespace)
            and (tenant is None or run.tenant == tenant)
            and (status is None or run.status == status)
            and (chain_name is None or run.chain_name == chain_name)
            and (everything or sees(caller, run.tenant, run.namespace))
        )

    matches = await services.chains.listing(visible)
    page = [run.summary() for run in matches[offset : offset + limit]]
    return json_response(
        {"chains": page, "count": len(page), "total": len(matches), "limit": limit, "offset": offset}
    )


@router.get(
    "/v1/chains/{chain_id}",
    response_class=Response,
    summary="One chain run with its steps",
    responses=responses({200: ("The run", ref("ChainDetail"))}, (*AUTH_ERRORS, 404, 503)),
    openapi_extra={"security": PROTECTED},
)
async def get_chain(
    chain_id: str, caller: CallerDep, services: ServicesDep, namespace: Text = None, tenant: Text = None
) -> Response:
    run = await _located(services, caller, chain_id, namespace, tenant)
    return json_response(run.detail())


@router.post(
    "/v1/chains/{chain_id}/cancel",
    response_class=Response,
    summary="Cancel a running chain",
    responses=responses(
        {200: ("The cancelled run", ref("ChainDetail"))},
        (400, *AUTH_ERRORS, 404, 409, 413, 415, 422, 503),
    ),
    openapi_extra={
        "requestBody": {**json_body(ref("CancelBody")), "required": False},
        "security": PROTECTED,
    },
)
async def cancel_chain(chain_id: str, request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    body = CancelBody()
    if _has_body(request):
        body = validate(CancelBody, await read_json(request))
    await _located(services, caller, chain_id, body.namespace, body.tenant)
    run = await services.chains.cancel(chain_id, body.reason, caller.caller_id)
    log.info("chain %s cancelled by %s", chain_id, caller.caller_id)
    return json_response(run.detail())


@router.get(
    "/v1/executions/{execution_id}/history",
    response_class=Response,
    summary="The durable history of one execution (chain run)",
    responses=responses(
        {200: ("Entries with seq > after, ascending", ref("ExecutionHistory"))}, (*AUTH_ERRORS, 404, 422, 503)
    ),
    openapi_extra={"security": PROTECTED},
)
async def get_history(
    execution_id: str,
    caller: CallerDep,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    namespace: Text = None,
    tenant: Text = None,
) -> Response:
    run = await _located(services, caller, execution_id, namespace, tenant)
    entries = list(run.history[after : after + limit])  # seq n sits at index n - 1
    return json_response(
        {
            "execution_id": run.chain_id,
            "status": run.status,
            "events": entries,
            "count": len(entries),
            "last_seq": run.last_seq,
        }
    )


async def _located(
    services: Services, caller: Caller, chain_id: str, namespace: str | None, tenant: str | None
) -> ChainRun:
    """The run, if it exists, the caller's grants cover it and it lies in the named scope; else 404."""
    run = await services.chains.repository.load(chain_id)
    if (
        run is None
        or (namespace is not None and run.namespace != namespace)
        or (tenant is not None and run.tenant != tenant)
        or not sees(caller, run.tenant, run.namespace)
    ):
        raise NotFound(f"chain not found: {chain_id}")
    return run


def _has_body(request: Request) -> bool:
    headers = request.headers
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
