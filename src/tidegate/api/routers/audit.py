"""``GET /v1/audit`` and ``GET /v1/audit/{action_id}`` (api.md §5): the audit trail, newest first.

Both are limited to the caller's grants: a ``tenant`` filter no grant covers is 403 (G2), a list without
one holds and counts only covered records (G4), and a record outside the grants is 404 exactly like a
missing one, after the same store read (G3). A scoped caller is not told that other tenants exist."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from tidegate.api.deps import CallerDep, ServicesDep
from tidegate.api.openapi import AUTH_ERRORS, PROTECTED, ref, responses
from tidegate.api.responses import json_response
from tidegate.audit.base import AuditQuery, AuditStore
from tidegate.errors import FeatureDisabled, InvalidInput, NotFound
from tidegate.model.action import Timestamp
from tidegate.model.audit import AUDIT_OUTCOMES
from tidegate.model.verdict import VerdictKind
from tidegate.security.tenancy import ensure_lists_tenant, read_scope
from tidegate.services import Services

__all__ = ["MAX_OFFSET", "router"]

#: Offsets beyond this get 422 (choice): every backend counts in signed 64-bit, with room for ``limit``.
MAX_OFFSET = 2**31 - 1

router = APIRouter(tags=["audit"])

OutcomeFilter = Literal[AUDIT_OUTCOMES]  # type: ignore[valid-type]
Text = Annotated[str | None, Query()]


@router.get(
    "/v1/audit",
    response_class=Response,
    summary="Search audit records (newest first)",
    responses=responses(
        {200: ("One page of matching records; `total` counts every match", ref("AuditList"))},
        (*AUTH_ERRORS, 400, 404, 422, 503),
    ),
    openapi_extra={"security": PROTECTED},
)
async def list_audit(
    caller: CallerDep,
    services: ServicesDep,
    namespace: Text = None,
    tenant: Text = None,
    provider: Text = None,
    action_type: Text = None,
    matched_rule: Text = None,
    caller_id: Text = None,
    chain_id: Text = None,
    outcome: Annotated[OutcomeFilter | None, Query()] = None,
    verdict: Annotated[VerdictKind | None, Query()] = None,
    from_: Annotated[
        Timestamp | None, Query(alias="from", description="inclusive lower bound on dispatched_at (RFC 3339)")
    ] = None,
    to: Annotated[
        Timestamp | None, Query(description="inclusive upper bound on dispatched_at (RFC 3339)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    audit = _audit_store(services)
    if from_ is not None and to is not None and from_ > to:
        raise InvalidInput("from is after to")
    ensure_lists_tenant(caller, tenant)
    query = AuditQuery(
        namespace=namespace,
        tenant=tenant,
        provider=provider,
        action_type=action_type,
        matched_rule=matched_rule,
        caller_id=caller_id,
        chain_id=chain_id,
        outcome=outcome,
        verdict=None if verdict is None else verdict.value,
        from_=from_,
        to=to,
        limit=limit,
        offset=offset,
        scope=read_scope(caller),
    )
    page = await audit.query(query)
    records = [record.to_json() for record in page.records]
    return json_response(
        {"records": records, "count": len(records), "total": page.total, "limit": limit, "offset": offset}
    )


@router.get(
    "/v1/audit/{action_id}",
    response_class=Response,
    summary="The newest audit record of one action",
    responses=responses({200: ("The record", ref("AuditRecord"))}, (*AUTH_ERRORS, 404, 503)),
    openapi_extra={"security": PROTECTED},
)
async def get_audit(action_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    record = await _audit_store(services).get(action_id, read_scope(caller))
    if record is None:
        raise NotFound(f"audit record not found: {action_id}")
    return json_response(record.to_json())


def _audit_store(services: Services) -> AuditStore:
    if services.audit is None or not services.settings.audit.enabled:
        raise FeatureDisabled("audit is disabled")
    return services.audit
