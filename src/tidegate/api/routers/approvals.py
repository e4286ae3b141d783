"""The approval endpoints (api.md §7): the list (credentials, ``read``) and the five signed endpoints.

On the signed endpoints the HMAC signature is the credential: they never take the caller rate limit and
read credentials only to name who decided. A POST without ``sig`` is a credentialed decision instead:
valid credentials whose role holds ``dispatch`` (401/403 otherwise) and whose grants cover the approval
(404 otherwise, after the same store read as for a missing one). With authentication disabled every
request is the anonymous admin (security.md, D18), so an unsigned POST is its credentialed decision
(``decided_by`` ``anonymous``): anyone who can reach such a server may already dispatch and manage, and
the dashboard decides this way. Failed checks keep their status and come as HTML when the client accepts
HTML."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from tidegate.api.approval_pages import confirm_page, error_page, result_page, status_page
from tidegate.api.deps import CallerDep, ServicesDep, get_caller
from tidegate.api.errors import status_of
from tidegate.api.openapi import AUTH_ERRORS, PROTECTED, Responses, ref, responses
from tidegate.api.responses import json_response
from tidegate.api.routers.audit import MAX_OFFSET
from tidegate.approvals import Approval, ApprovalRef, Decision, Link
from tidegate.errors import Forbidden, InvalidSignature, TidegateError, Unauthenticated
from tidegate.model.caller import ANONYMOUS, Caller
from tidegate.security.permissions import Permission, role_allows
from tidegate.security.tenancy import ensure_lists_tenant, read_scope, sees
from tidegate.services import Services

__all__ = ["router"]

router = APIRouter(tags=["approvals"])

_BASE = "/v1/approvals/{namespace}/{tenant}/{approval_id}"
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

Text = Annotated[str | None, Query()]
# Read as plain strings: a missing or malformed value is check 1's 403, never a 422 (api.md §1.4, §7).
Sig = Annotated[str | None, Query(description="64 lowercase hex: the link's HMAC-SHA256 signature")]
ExpiresAt = Annotated[str | None, Query(description="the link's expiry, integer Unix seconds (signed)")]
Kid = Annotated[str | None, Query(description="the signing key's id; without it every key is tried")]


def _with_html(documented: Responses, *, ok_html: bool, ok_json: bool = True) -> Responses:
    """Add the HTML alternatives: error pages for every error status, and the 200 page when there is one."""
    for status, entry in documented.items():
        content: dict[str, Any] = entry.setdefault("content", {})
        if status == 200:
            if not ok_json:
                content.pop("application/json", None)
            if ok_html:
                content["text/html"] = {"schema": {"type": "string"}}
        elif status != 500:  # a bug's 500 is always the JSON error
            entry["content"] = {**content, "text/html": {"schema": {"type": "string"}}}
    return documented


_SIGNED_ERRORS = (403, 404, 503)
_DECISION_ERRORS = (401, 403, 404, 409, 410, 503)
_OPTIONAL_CREDENTIALS: list[dict[str, list[str]]] = [{}, *PROTECTED]


@router.get(
    "/v1/approvals",
    response_class=Response,
    summary="List approvals (newest first)",
    responses=responses(
        {200: ("One page of matching approvals; `total` counts every match", ref("ApprovalList"))},
        (*AUTH_ERRORS, 422, 503),
    ),
    openapi_extra={"security": PROTECTED},
)
async def list_approvals(
    caller: CallerDep,
    services: ServicesDep,
    namespace: Text = None,
    tenant: Text = None,
    status: Annotated[Literal["pending", "approved", "rejected", "expired", "all"], Query()] = "pending",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    ensure_lists_tenant(caller, tenant)
    everything = read_scope(caller) is None

    def visible(approval: Approval) -> bool:
        return everything or sees(caller, approval.tenant, approval.namespace)

    matches = await services.approvals.listing(
        status=status, namespace=namespace, tenant=tenant, visible=visible
    )
    page = [approval.to_json() for approval in matches[offset : offset + limit]]
    return json_response(
        {"approvals": page, "count": len(page), "total": len(matches), "limit": limit, "offset": offset}
    )


@router.get(
    _BASE,
    response_class=Response,
    summary="An approval's status (signed link)",
    responses=_with_html(
        responses(
            {200: ("The approval (HTML when `Accept` has `text/html`)", ref("Approval"))}, _SIGNED_ERRORS
        ),
        ok_html=True,
    ),
)
async def approval_status(
    request: Request,
    services: ServicesDep,
    namespace: str,
    tenant: str,
    approval_id: str,
    sig: Sig = None,
    expires_at: ExpiresAt = None,
    kid: Kid = None,
) -> Response:
    async def answer() -> Response:
        approval = await services.approvals.view(
            ApprovalRef(namespace, tenant, approval_id), Link(sig, expires_at, kid)
        )
        if _wants_html(request):
            return status_page(approval)
        return json_response(approval.to_json(), headers=_NO_STORE)

    return await _negotiated(request, answer)


def _confirm_route(decision: Decision) -> Callable[..., Awaitable[Response]]:
    async def confirm(
        request: Request,
        services: ServicesDep,
        namespace: str,
        tenant: str,
        approval_id: str,
        sig: Sig = None,
        expires_at: ExpiresAt = None,
        kid: Kid = None,
    ) -> Response:
        async def answer() -> Response:
            approval = await services.approvals.confirm(
                ApprovalRef(namespace, tenant, approval_id), Link(sig, expires_at, kid)
            )
            return confirm_page(approval, decision, _own_target(request))

        return await _negotiated(request, answer)

    return confirm


def _decide_route(decision: Decision) -> Callable[..., Awaitable[Response]]:
    async def decide(
        request: Request,
        services: ServicesDep,
        namespace: str,
        tenant: str,
        approval_id: str,
        sig: Sig = None,
        expires_at: ExpiresAt = None,
        kid: Kid = None,
    ) -> Response:
        async def answer() -> Response:
            link, caller = await _proof(request, services, sig, expires_at, kid)
            result = await services.approvals.decide(
                ApprovalRef(namespace, tenant, approval_id), decision, link=link, caller=caller
            )
            if _wants_html(request):
                return result_page(result)
            return json_response(result.to_json(), headers=_NO_STORE)

        return await _negotiated(request, answer)

    return decide


for _decision, _word in ((Decision.APPROVE, "approve"), (Decision.REJECT, "reject")):
    _label = _word.capitalize()
    router.add_api_route(
        f"{_BASE}/{_word}",
        _confirm_route(_decision),
        methods=["GET"],
        response_class=Response,
        summary=f"The {_word} confirm page (signed link; GET never decides)",
        name=f"confirm_{_word}",
        responses=_with_html(
            responses(
                {200: (f"A page with one `{_label}` button that POSTs the same link", {"type": "string"})},
                (*_SIGNED_ERRORS, 409, 410),
                media_type="text/html",
            ),
            ok_html=False,
        ),
    )
    router.add_api_route(
        f"{_BASE}/{_word}",
        _decide_route(_decision),
        methods=["POST"],
        response_class=Response,
        summary=f"{_label} a pending action (signed link, or credentials with `dispatch`)",
        name=f"decide_{_word}",
        responses=_with_html(
            responses({200: ("The decision", ref("ApprovalDecision"))}, _DECISION_ERRORS), ok_html=True
        ),
        openapi_extra={"security": _OPTIONAL_CREDENTIALS},
    )


async def _proof(
    request: Request, services: Services, sig: str | None, expires_at: str | None, kid: str | None
) -> tuple[Link | None, Caller | None]:
    """The link (with whoever the credentials prove, if anyone), or, without ``sig``, the credentialed
    caller: authenticated (401), holding ``dispatch`` (403); with authentication disabled, the anonymous
    admin. Unsigned and without credentials while authentication is on: check 1's 403."""
    presented = "authorization" in request.headers or "x-api-key" in request.headers
    if sig is not None:
        caller = None
        if services.auth is not None and presented:
            try:
                caller = await get_caller(request)
            except Unauthenticated:
                caller = None  # the link alone decides; bad credentials only cost the name
        return Link(sig, expires_at, kid), caller
    if services.auth is None:
        if _cross_site(request):  # a form on another site must not decide through a visitor's browser
            raise InvalidSignature()
        return None, ANONYMOUS  # credentials are ignored (D18), as on every other endpoint
    if not presented:
        raise InvalidSignature()
    caller = await get_caller(request)
    if not role_allows(caller.role, Permission.DISPATCH):
        raise Forbidden(f"role '{caller.role.value}' lacks the 'dispatch' permission")
    return None, caller


def _cross_site(request: Request) -> bool:
    """A browser request sent from another origin: ``Sec-Fetch-Site`` says so, or ``Origin`` names a
    host other than the one addressed (older browsers send only ``Origin``)."""
    if request.headers.get("sec-fetch-site", "") in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    host = request.headers.get("host", "")
    return origin == "null" or origin.partition("://")[2].rstrip("/") != host


async def _negotiated(request: Request, answer: Callable[[], Awaitable[Response]]) -> Response:
    """Run ``answer``; a failed check becomes an HTML page with its status for clients that want HTML."""
    try:
        return await answer()
    except TidegateError as exc:
        status = status_of(exc)
        if status is None or not _wants_html(request):
            raise
        return error_page(status, exc.message)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _own_target(request: Request) -> str:
    """The request's own path and query, as sent (the form posts the same signed link back)."""
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else quote(request.url.path)
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path
