"""Login, logout and the credential forms over HTTP (api.md §13, security.md §3), on real servers."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.helpers.errors import assert_error
from tests.helpers.server import ServerThread, running_server, serving
from tidegate.api.app import create_app
from tidegate.clock import ManualClock
from tidegate.services import Services

from .auth_support import JWT_SECRET, PASSWORD, Identity, auth_settings, bearer, login
from .conftest import ACTION, make_settings

OPS_KEY = "tg_ops-key-0123456789"
IDENTITIES = [
    Identity("root", "admin"),
    Identity("ops", "operator", grants=[{"tenants": ["*"]}]),
    Identity("ci", "operator", grants=[{"tenants": ["*"]}], key=OPS_KEY),
    Identity("old", "operator", key="tg_old-key", extra={"expires_at": "2026-01-01T00:00:00Z"}),
    Identity("locked", "viewer"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[str]:
    settings = auth_settings(
        tmp_path_factory.mktemp("login"),
        IDENTITIES,
        auth={"watch": False, "login_max_failures": 3, "jwt_expiry_seconds": 600},
    )
    with serving(settings, clock=clock) as url:
        yield url


async def test_login_issues_a_short_lived_hs256_token(client: httpx.AsyncClient, clock: ManualClock) -> None:
    response = await client.post("/v1/auth/login", json={"username": "root", "password": PASSWORD})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert list(body) == ["token", "token_type", "expires_in"]
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 600)
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"
    claims = jwt.decode(body["token"], JWT_SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert set(claims) == {"sub", "jti", "iat", "exp", "iss"}  # no role, no grants
    assert claims["exp"] - claims["iat"] == 600
    assert claims["iat"] == int(clock.now().timestamp())
    rules = await client.get("/v1/rules", headers=bearer(body["token"]))
    assert rules.status_code == 200


@pytest.mark.parametrize("username", ["root", "nobody"])
async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(
    client: httpx.AsyncClient, username: str
) -> None:
    response = await client.post("/v1/auth/login", json={"username": username, "password": "wrong password!"})
    assert_error(response, 401, "invalid_credentials", "invalid credentials")
    assert response.headers["www-authenticate"] == "Bearer"
    assert "wrong password" not in response.text


@pytest.mark.parametrize(
    "body",
    [
        {"username": "root"},
        {"username": "", "password": "x"},
        {"username": "root", "password": "p" * 1025},
        {"username": "r" * 257, "password": "x"},
        {"username": 7, "password": "x"},
    ],
)
async def test_login_body_is_validated_without_echoing_it(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/v1/auth/login", json=body)
    assert_error(response, 422, "validation_error")
    assert "ppppp" not in response.text and "rrrrr" not in response.text


async def test_failed_logins_are_limited_per_username(client: httpx.AsyncClient, clock: ManualClock) -> None:
    for _ in range(3):
        failed = await client.post("/v1/auth/login", json={"username": "locked", "password": "nope nope"})
        assert failed.status_code == 401
    limited = await client.post("/v1/auth/login", json={"username": "locked", "password": PASSWORD})
    assert_error(limited, 429, "rate_limited", retryable=True)
    assert 1 <= int(limited.headers["retry-after"]) <= 300
    assert (
        await client.post("/v1/auth/login", json={"username": "root", "password": PASSWORD})
    ).status_code == 200
    clock.advance(301)  # the window frees its slots
    assert (
        await client.post("/v1/auth/login", json={"username": "locked", "password": PASSWORD})
    ).status_code == 200


async def test_logout_revokes_the_token_and_only_tokens_have_sessions(client: httpx.AsyncClient) -> None:
    token = await login(client, "ops")
    first = await client.post("/v1/auth/logout", headers=bearer(token))
    assert (first.status_code, first.json()) == (200, {"status": "logged_out"})
    again = await client.post("/v1/auth/logout", headers=bearer(token))
    assert_error(again, 401, "unauthorized", "token revoked")
    assert_error(await client.get("/v1/rules", headers=bearer(token)), 401, "unauthorized", "token revoked")
    for headers in (bearer(OPS_KEY), {"X-API-Key": OPS_KEY}):
        assert_error(await client.post("/v1/auth/logout", headers=headers), 400, "bad_request")
    assert_error(await client.post("/v1/auth/logout"), 401, "unauthorized", "missing credentials")


async def test_a_token_expires_on_the_servers_clock(client: httpx.AsyncClient, clock: ManualClock) -> None:
    token = await login(client, "ops")
    clock.advance(599)
    assert (await client.get("/v1/rules", headers=bearer(token))).status_code == 200
    clock.advance(1)
    assert_error(await client.get("/v1/rules", headers=bearer(token)), 401, "unauthorized", "token expired")


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        (bearer(OPS_KEY), 200, None),  # the Acteon SDK's form
        ({"X-API-Key": OPS_KEY}, 200, None),
        ({"Authorization": f"bearer {OPS_KEY}", "X-API-Key": "tg_wrong"}, 200, None),  # Authorization wins
        ({"Authorization": "Bearer tg_wrong", "X-API-Key": OPS_KEY}, 401, "invalid API key"),
        ({"X-API-Key": "tg_old-key"}, 401, "API key expired"),
        ({"Authorization": f"Basic {OPS_KEY}"}, 401, "missing credentials"),
        (bearer("eyJhbGciOiJub25lIn0.eyJzdWIiOiJyb290In0."), 401, "invalid token"),
    ],
)
async def test_credential_forms(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, message: str | None
) -> None:
    response = await client.post("/v1/dispatch", json=ACTION, headers=headers)
    if message is None:
        assert response.status_code == status, response.text
        return
    assert_error(response, status, "unauthorized", message)
    assert OPS_KEY not in response.text


async def test_audit_records_name_the_caller_never_the_credential(client: httpx.AsyncClient) -> None:
    await client.post("/v1/dispatch", json={**ACTION, "id": "by-key"}, headers=bearer(OPS_KEY))
    token = await login(client, "root")
    await client.post("/v1/dispatch", json={**ACTION, "id": "by-jwt"}, headers=bearer(token))
    by_key = (await client.get("/v1/audit/by-key", headers=bearer(token))).json()
    by_jwt = (await client.get("/v1/audit/by-jwt", headers=bearer(token))).json()
    assert (by_key["caller_id"], by_key["auth_method"]) == ("ci", "api_key")
    assert (by_jwt["caller_id"], by_jwt["auth_method"]) == ("root", "jwt")
    assert OPS_KEY not in str(by_key) and token not in str(by_jwt)


async def test_secrets_never_reach_a_log_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await login(client, "root")
    await client.post("/v1/auth/login", json={"username": PASSWORD, "password": PASSWORD + "!"})
    await client.post("/v1/dispatch", json=ACTION, headers=bearer(OPS_KEY))
    await client.post("/v1/dispatch", json=ACTION, headers={"X-API-Key": OPS_KEY + "x"})
    await client.get(f"/v1/rules?api_key={OPS_KEY}&token={token}", headers=bearer(token))
    await client.post("/v1/auth/logout", headers=bearer(token))
    await client.get("/v1/rules", headers=bearer(token))
    assert any(record.name == "tidegate.access" for record in caplog.records)  # the lines were captured
    for record in caplog.records:
        if record.name.startswith(("httpx", "httpcore")):
            continue  # the test's own client logs the URLs it sends
        text = record.getMessage() + repr(record.__dict__)
        for secret in (OPS_KEY, token, PASSWORD):
            assert secret not in text, record.getMessage()


async def test_login_and_logout_answer_404_while_auth_is_disabled(tmp_path: Path) -> None:
    async with running_server(make_settings(tmp_path)) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/v1/auth/login", json={"username": "root", "password": PASSWORD})
        assert_error(response, 404, "auth_disabled")
        assert_error(await client.post("/v1/auth/logout", headers=bearer("x.y.z")), 404, "auth_disabled")
        assert (await client.get("/v1/rules", headers=bearer("garbage"))).status_code == 200  # ignored


async def test_logout_ends_the_session_for_every_instance_sharing_the_store(tmp_path: Path) -> None:
    """Two servers on one SQLite state store: what one revokes, the other refuses (Redis and PostgreSQL
    share sessions across hosts the same way: through the StateStore)."""
    settings = auth_settings(tmp_path, IDENTITIES, auth={"watch": False})
    async with (
        running_server(settings) as first,
        running_server(settings) as second,
        httpx.AsyncClient(base_url=first) as one,
        httpx.AsyncClient(base_url=second) as two,
    ):
        token = await login(one, "root")
        assert (await two.get("/v1/rules", headers=bearer(token))).status_code == 200
        assert (await two.post("/v1/auth/logout", headers=bearer(token))).status_code == 200
        assert_error(await one.get("/v1/rules", headers=bearer(token)), 401, "unauthorized", "token revoked")


async def test_password_checks_run_off_the_event_loop(tmp_path: Path) -> None:
    """While a verification is held inside its worker thread, the server keeps answering."""
    settings = auth_settings(tmp_path, IDENTITIES, auth={"watch": False})
    app = create_app(settings)
    server = ServerThread(app)
    url = await asyncio.to_thread(server.start)
    entered, release = threading.Event(), threading.Event()
    try:
        services: Services = app.state.services
        assert services.auth is not None
        verifier = services.auth._passwords
        check = verifier._matches

        def held(password_hash: str, password: str) -> bool:
            entered.set()
            release.wait(10)
            return check(password_hash, password)

        verifier._matches = held  # type: ignore[method-assign]
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            pending = asyncio.create_task(
                client.post("/v1/auth/login", json={"username": "root", "password": PASSWORD})
            )
            assert await asyncio.to_thread(entered.wait, 10)
            health = await client.get("/health", timeout=5)  # would time out if the loop were blocked
            assert health.status_code == 200 and not pending.done()
            release.set()
            assert (await pending).status_code == 200
    finally:
        release.set()
        await asyncio.to_thread(server.stop)
