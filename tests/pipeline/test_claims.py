"""Dedup claims in doubt (features.md §1, §3): a claim whose store call failed may still have been
written (a hung Redis applies it when it wakes up); it must not deduplicate the client's retry."""

from __future__ import annotations

import pytest

from tests.pipeline.test_gateway import RULES, action, harness
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.model.caller import ANONYMOUS
from tidegate.pipeline import claims
from tidegate.pipeline.claims import DoubtfulClaims
from tidegate.providers.base import ProviderError
from tidegate.store.memory import MemoryStateStore

KEY = "notifications:acme:dedup:k"


def write_lands_but_call_fails(store: MemoryStateStore) -> None:
    """The next put_if_absent is applied, yet its caller hears a timeout (then the store is healthy)."""
    original = store.put_if_absent

    async def timed_out(key: str, value: bytes, ttl: float | None = None) -> bool:
        store.put_if_absent = original  # type: ignore[method-assign]
        await original(key, value, ttl)
        raise BackendUnavailable("state store (redis) did not answer (timed out)")

    store.put_if_absent = timed_out  # type: ignore[method-assign]


async def test_a_retry_after_a_503_whose_claim_landed_executes() -> None:
    h = await harness(RULES)
    write_lands_but_call_fails(h.store)
    with pytest.raises(BackendUnavailable):
        await h.gateway.dispatch(action(action_type="welcome", dedup_key="k"), ANONYMOUS)
    assert await h.store.get(KEY) == b"a-1"  # the ghost claim
    assert not h.providers["email"].calls
    retry = await h.gateway.dispatch(action(id="a-2", action_type="welcome", dedup_key="k"), ANONYMOUS)
    assert retry.outcome.category == "executed"
    duplicate = await h.gateway.dispatch(action(id="a-3", action_type="welcome", dedup_key="k"), ANONYMOUS)
    assert duplicate.body()["original_action_id"] == "a-2"


async def test_a_ghost_claim_is_released_in_the_background_until_the_store_settles() -> None:
    h = await harness(RULES)
    write_lands_but_call_fails(h.store)
    with pytest.raises(BackendUnavailable):
        await h.gateway.dispatch(action(action_type="welcome", dedup_key="k"), ANONYMOUS)
    doubtful = h.gateway.doubtful_claims
    await doubtful.sweep()
    assert await h.store.get(KEY) is None
    await h.store.put(KEY, b"a-1")  # the same write landing late, after the first release
    h.clock.advance(claims.SETTLE_SECONDS - 0.5)
    await doubtful.sweep()
    assert await h.store.get(KEY) is None and len(doubtful) == 1
    h.clock.advance(0.5)
    await doubtful.sweep()
    assert len(doubtful) == 0


async def test_only_the_doubtful_claim_itself_is_ever_released() -> None:
    clock = ManualClock()
    store = MemoryStateStore(clock)
    doubtful = DoubtfulClaims(store, clock)
    doubtful.add(KEY, b"a-1", 300)
    await store.put(KEY, b"a-2")  # the claim never landed; another dispatch holds the key
    await doubtful.sweep()
    assert await store.get(KEY) == b"a-2"


async def test_a_failed_execution_whose_release_failed_is_released_later() -> None:
    h = await harness(RULES)
    h.providers["email"].script = [ProviderError("execution_failed", "HTTP 500", retryable=False)]
    original = h.store.delete_if_equals

    async def unavailable(key: str, value: bytes) -> bool:
        raise BackendUnavailable("state store unavailable")

    h.store.delete_if_equals = unavailable  # type: ignore[method-assign]
    failed = await h.gateway.dispatch(action(action_type="welcome", dedup_key="k"), ANONYMOUS)
    assert failed.outcome.category == "failed"
    await h.gateway.doubtful_claims.sweep()  # still down: kept for the next pass
    assert await h.store.get(KEY) == b"a-1"
    h.store.delete_if_equals = original  # type: ignore[method-assign]
    await h.gateway.doubtful_claims.sweep()
    h.providers["email"].script = []
    retry = await h.gateway.dispatch(action(id="a-2", action_type="welcome", dedup_key="k"), ANONYMOUS)
    assert retry.outcome.category == "executed"


async def test_claims_are_forgotten_once_their_ttl_ran_out() -> None:
    clock = ManualClock()
    store = MemoryStateStore(clock)
    doubtful = DoubtfulClaims(store, clock)
    doubtful.add(KEY, b"a-1", 10)
    await store.close()  # down for the claim's whole life
    await doubtful.sweep()
    assert len(doubtful) == 1
    clock.advance(10)
    await doubtful.sweep()
    assert len(doubtful) == 0


async def test_the_oldest_claims_are_forgotten_beyond_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(claims, "MAX_CLAIMS", 2)
    clock = ManualClock()
    doubtful = DoubtfulClaims(MemoryStateStore(clock), clock)
    for n in range(3):
        doubtful.add(f"k{n}", b"a", 300)
    assert (len(doubtful), doubtful.holds("k0", b"a"), doubtful.holds("k2", b"a")) == (2, False, True)
