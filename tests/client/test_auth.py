"""Authentication through the SDK on a server with auth on: API keys, login and logout, logging in by
itself with a username and password (and again when the token is revoked), credentialed approvals."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.api.auth_support import JWT_SECRET, PASSWORD, Identity, write_auth_file
from tests.client._wait import eventually
from tests.client.conftest import action, client_settings
from tests.helpers.server import serving
from tidegate.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConnectionChange,
    PermissionDeniedError,
    StreamEvent,
)
from tidegate.model.outcome import PendingApproval

OPERATOR_KEY = "tg_operator_key_for_the_sdk_tests_000000000000"
VIEWER_KEY = "tg_viewer_key_for_the_sdk_tests_0000000000000000"
IDENTITIES = [
    Identity("alice", "admin"),
    Identity("ops", "operator", grants=[{"tenants": ["acme"]}], key=OPERATOR_KEY),
    Identity("watcher", "viewer", grants=[{"tenants": ["acme"]}], key=VIEWER_KEY),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("client-auth")
    auth_file = write_auth_file(directory / "auth.yaml", IDENTITIES)
    auth = {"enabled": True, "file": str(auth_file), "jwt_secret": JWT_SECRET}
    with serving(client_settings(directory, auth=auth)) as url:
        yield url


async def test_api_keys_and_roles(server: str) -> None:
    async with AsyncClient(server, api_key=OPERATOR_KEY) as operator:
        result = await operator.dispatch(action("acme"))
        assert result.category == "executed"
        with pytest.raises(PermissionDeniedError) as foreign:
            await operator.dispatch(action("globex"))
        assert foreign.value.code == "forbidden"
    async with AsyncClient(server, api_key=VIEWER_KEY) as viewer:
        assert (await viewer.audit(tenant="acme")).total >= 1
        with pytest.raises(PermissionDeniedError):
            await viewer.dispatch(action("acme"))
    async with AsyncClient(server) as nobody:
        with pytest.raises(AuthenticationError) as missing:
            await nobody.rules()
        assert missing.value.code == "unauthorized" and missing.value.status == 401
        assert (await nobody.health()).status == "ok"  # public


async def test_login_and_logout(server: str) -> None:
    async with AsyncClient(server) as tg:
        token = await tg.login("alice", PASSWORD)
        assert token.token_type == "Bearer" and token.expires_in > 0 and tg.token == token.token
        assert len(await tg.rules()) > 0
        await tg.logout()
        assert tg.token is None
    async with AsyncClient(server, token=token.token) as stale:
        with pytest.raises(AuthenticationError):
            await stale.rules()
    async with AsyncClient(server) as tg:
        with pytest.raises(AuthenticationError) as wrong:
            await tg.login("alice", "not the password")
        assert wrong.value.code == "invalid_credentials" and wrong.value.message == "invalid credentials"


def test_username_and_password_log_in_by_themselves_and_again_after_revocation(server: str) -> None:
    with Client(server, username="alice", password=PASSWORD) as tg:
        assert tg.token is None
        tg.rules()
        first = tg.token
        assert first is not None
        with Client(server, token=first) as other:
            other.logout()  # revokes the token tg holds
        assert tg.rules()
        assert tg.token is not None and tg.token != first


async def test_a_stream_logs_in_again_when_its_token_is_refused(server: str) -> None:
    async with AsyncClient(server) as revoker:
        stale = (await revoker.login("alice", PASSWORD)).token
        await revoker.logout()
    changes: list[ConnectionChange] = []
    async with AsyncClient(server, token=stale, username="alice", password=PASSWORD) as tg:
        items = tg.stream(tenant="acme", on_connection=changes.append, max_retries=0)
        task = asyncio.ensure_future(anext(items))
        await eventually(lambda: changes)
        async with AsyncClient(server, api_key=OPERATOR_KEY) as operator:
            sent = await operator.dispatch(action("acme"))
        event = await asyncio.wait_for(task, 5)
        assert isinstance(event, StreamEvent) and event.action_id == sent.action_id
        assert tg.token not in (None, stale)
        await items.aclose()  # type: ignore[attr-defined]
    assert [c.state for c in changes] == ["connected"]


async def test_credentialed_approval_decisions_name_the_caller(server: str) -> None:
    async with AsyncClient(server, api_key=OPERATOR_KEY) as operator:
        held = await operator.dispatch(action("acme", "refund"))
        assert isinstance(held.outcome, PendingApproval)
        decision = await operator.approve("notifications", "acme", held.outcome.approval_id)
        assert decision.status == "approved" and decision.decided_by == "ops"
        assert decision.outcome is not None and decision.outcome.category == "executed"
        other = await operator.dispatch(action("acme", "refund"))
    assert isinstance(other.outcome, PendingApproval)
    async with AsyncClient(server, api_key=VIEWER_KEY) as viewer:
        with pytest.raises(PermissionDeniedError):
            await viewer.reject("notifications", "acme", other.outcome.approval_id)
