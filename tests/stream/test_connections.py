"""Connection buckets (stream.md §0.6) and the per-process slot counter."""

from __future__ import annotations

import pytest

from tidegate.model.caller import ANONYMOUS, AuthMethod, Caller, Grant, Role
from tidegate.stream.connections import Bucket, LocalConnectionSlots, connection_bucket


def caller(*grants: tuple[str, ...], caller_id: str = "bob") -> Caller:
    return Caller(caller_id, AuthMethod.API_KEY, Role.VIEWER, tuple(Grant(tenants=t) for t in grants))


@pytest.mark.parametrize(
    ("who", "tenant_filter", "expected"),
    [
        (caller(("acme",)), None, Bucket("tenant:acme", 10)),
        (caller(("acme",)), "acme.eu", Bucket("tenant:acme", 10)),  # one literal tenant wins
        (caller(("acme",), ("acme",)), None, Bucket("tenant:acme", 10)),  # same tenant, two grants
        (caller(("acme", "beta")), "beta", Bucket("tenant:beta", 10)),
        (caller(("acme",), ("beta",)), None, Bucket("caller:bob", 10)),
        (caller(("*",)), "acme", Bucket("tenant:acme", 10)),
        (caller(("*",)), None, Bucket("caller:bob", 10)),
        (caller(), None, Bucket("caller:bob", 10)),  # no grants at all
        (ANONYMOUS, "acme", Bucket("tenant:acme", 10)),
        (ANONYMOUS, None, Bucket("anonymous", 100)),
    ],
)
def test_bucket_rules(who: Caller, tenant_filter: str | None, expected: Bucket) -> None:
    assert connection_bucket(who, tenant_filter, 10) == expected


def test_a_tenant_named_like_a_caller_bucket_does_not_share_it() -> None:
    by_tenant = connection_bucket(ANONYMOUS, "caller:bob", 10)
    by_caller = connection_bucket(caller(("*",)), None, 10)
    assert by_tenant.key != by_caller.key


def test_zero_means_unlimited_everywhere() -> None:
    assert connection_bucket(ANONYMOUS, None, 0).limit == 0


async def test_slots_are_capped_per_bucket_and_released_once() -> None:
    slots = LocalConnectionSlots()
    acme, beta = Bucket("tenant:acme", 2), Bucket("tenant:beta", 2)
    first, second = await slots.acquire(acme), await slots.acquire(acme)
    assert first is not None and second is not None
    assert await slots.acquire(acme) is None
    assert await slots.acquire(beta) is not None
    await slots.release(first)
    await slots.release(first)  # a second release gives nothing back twice
    assert slots.held("tenant:acme") == 1
    assert await slots.acquire(acme) is not None
    assert await slots.acquire(acme) is None
    assert slots.total == 3


async def test_limit_zero_is_unlimited() -> None:
    slots = LocalConnectionSlots()
    bucket = Bucket("anonymous", 0)
    held = [await slots.acquire(bucket) for _ in range(1000)]
    assert None not in held and slots.held("anonymous") == 1000
    for slot in held:
        assert slot is not None
        await slots.release(slot)
    assert slots.total == 0 and slots.held("anonymous") == 0
