"""Sessions and the login limit across instances: two authenticators, each with its own connection to one
shared Redis or PostgreSQL store, behave as one (api.md §13: logout is cluster-wide)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tests.postgres.pg_support import open_postgres_store, unique_schema
from tests.store.redis_support import open_redis_store, unique_prefix
from tidegate.clock import ManualClock
from tidegate.errors import InvalidCredentials, RateLimited, Unauthenticated
from tidegate.model.caller import Role
from tidegate.postgres.names import TableNames
from tidegate.security.auth_file import AuthFile
from tidegate.security.authenticator import Authenticator
from tidegate.security.identities import Identities, User
from tidegate.security.login_throttle import LoginThrottle
from tidegate.security.tokens import Sessions, TokenCodec
from tidegate.store.base import StateStore

PASSWORD = "correct horse battery staple"
HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


@pytest.fixture(params=["redis", "postgres"])
async def stores(
    request: pytest.FixtureRequest, clock: ManualClock
) -> AsyncIterator[tuple[StateStore, StateStore]]:
    if request.param == "redis":
        prefix = unique_prefix()
        first: StateStore = await open_redis_store(clock, prefix=prefix)
        second: StateStore = await open_redis_store(clock, prefix=prefix)
    else:
        names = TableNames(schema=unique_schema())
        first = await open_postgres_store(clock, names=names)
        second = await open_postgres_store(clock, names=names)
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _instance(store: StateStore, clock: ManualClock) -> Authenticator:
    identities = Identities([User("root", HASH, Role.ADMIN, ())])
    return Authenticator(
        AuthFile(Path("auth.yaml"), identities),
        TokenCodec(b"x" * 32, 3600),
        Sessions(store),
        LoginThrottle(store, max_failures=2, window_seconds=300),
        clock,
    )


async def test_a_logout_on_one_instance_ends_the_session_on_the_other(
    stores: tuple[StateStore, StateStore], clock: ManualClock
) -> None:
    one, two = (_instance(store, clock) for store in stores)
    issued = await one.login("root", PASSWORD)
    caller = await two.authenticate(f"Bearer {issued.token}", None)
    assert (caller.caller_id, caller.session) == ("root", issued.jti)
    await two.logout(caller)
    with pytest.raises(Unauthenticated, match="token revoked"):
        await one.authenticate(f"Bearer {issued.token}", None)


async def test_failed_logins_count_across_instances(
    stores: tuple[StateStore, StateStore], clock: ManualClock
) -> None:
    one, two = (_instance(store, clock) for store in stores)
    for instance in (one, two):
        with pytest.raises(InvalidCredentials):
            await instance.login("root", "wrong password")
    with pytest.raises(RateLimited):
        await one.login("root", PASSWORD)
