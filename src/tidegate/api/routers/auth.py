"""``POST /v1/auth/login`` and ``POST /v1/auth/logout`` (api.md §13): JWT sessions.

Both answer 404 ``auth_disabled`` while authentication is off, before anything else. Login is public and
its 401 is one message for an unknown user and a wrong password. Logout revokes the token's session in
the state store, so every instance refuses the token from its next request on. Token responses carry
``Cache-Control: no-store``: a token must not sit in a cache."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tidegate.api.body import read_json, validate
from tidegate.api.deps import ServicesDep, authorize, services_of
from tidegate.api.openapi import BODY_ERRORS, Responses, json_body, ref, responses
from tidegate.api.responses import json_response
from tidegate.api.schemas import LoginBody
from tidegate.errors import AuthDisabled
from tidegate.model.caller import Caller
from tidegate.security.authenticator import Authenticator
from tidegate.services import Services

__all__ = ["router"]

router = APIRouter(tags=["auth"])

_NO_STORE = {"Cache-Control": "no-store"}

JsonDict = dict[str, Any]


def _authenticator(services: Services) -> Authenticator:
    if services.auth is None:
        raise AuthDisabled("authentication is disabled")
    return services.auth


async def _enabled(request: Request) -> None:
    """Runs before the caller is read, so a disabled server answers 404 whatever the credentials."""
    _authenticator(services_of(request))


def _documented(ok: tuple[str, JsonDict], errors: tuple[int, ...]) -> Responses:
    documented = responses({200: ok}, errors)
    documented[404] = {**documented[404], "description": "`auth_disabled`: authentication is switched off"}
    return documented


@router.post(
    "/v1/auth/login",
    response_class=Response,
    summary="Exchange a username and password for a JWT",
    responses=_documented(
        ("A new token; its session lasts `expires_in` seconds", ref("LoginToken")),
        (*BODY_ERRORS, 401, 404, 429, 503),
    ),
    openapi_extra={"requestBody": json_body(ref("LoginBody"))},
)
async def login(request: Request, services: ServicesDep) -> Response:
    auth = _authenticator(services)
    body = validate(LoginBody, await read_json(request))
    issued = await auth.login(body.username, body.password)
    token = {"token": issued.token, "token_type": "Bearer", "expires_in": issued.expires_in}
    return json_response(token, headers=_NO_STORE)


@router.post(
    "/v1/auth/logout",
    response_class=Response,
    summary="End the session of the presented JWT on every instance",
    responses=_documented(
        ("The session is revoked", ref("LogoutResult")),
        (400, 401, 404, 429, 503),
    ),
    dependencies=[Depends(_enabled)],
    openapi_extra={"security": [{"bearerAuth": []}]},
)
async def logout(caller: Annotated[Caller, Depends(authorize)], services: ServicesDep) -> Response:
    await _authenticator(services).logout(caller)
    return json_response({"status": "logged_out"}, headers=_NO_STORE)
