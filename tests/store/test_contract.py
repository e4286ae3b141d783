"""The StateStore contract (store/base.py), run against every backend of ``store_backends.BACKENDS``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.store.store_backends import SWEPT_BACKENDS
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable, TidegateError
from tidegate.store.base import StateStore

T0 = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)


# --- get / put / delete ---------------------------------------------------------------------------


async def test_get_of_a_missing_key_is_none(store: StateStore) -> None:
    assert await store.get("nope") is None
    assert await store.get_versioned("nope") is None


async def test_put_then_get_returns_the_bytes(store: StateStore) -> None:
    await store.put("ns:t:kind:a", b'{"x":1}')
    assert await store.get("ns:t:kind:a") == b'{"x":1}'


async def test_put_overwrites(store: StateStore) -> None:
    await store.put("k", b"one")
    await store.put("k", b"two")
    assert await store.get("k") == b"two"


async def test_values_are_opaque_bytes(store: StateStore) -> None:
    raw = bytes(range(256)) + "é".encode()
    await store.put("k", raw)
    assert await store.get("k") == raw
    await store.put("empty", b"")
    assert await store.get("empty") == b""


async def test_delete_reports_whether_the_key_existed(store: StateStore) -> None:
    await store.put("k", b"v")
    assert await store.delete("k") is True
    assert await store.get("k") is None
    assert await store.delete("k") is False


# --- expiry ---------------------------------------------------------------------------------------


async def test_a_key_lives_until_its_ttl_is_reached(store: StateStore, clock: ManualClock) -> None:
    await store.put("k", b"v", ttl=10)
    clock.advance(9.999)
    assert await store.get("k") == b"v"
    clock.advance(0.001)
    assert await store.get("k") is None


async def test_fractional_ttl(store: StateStore, clock: ManualClock) -> None:
    await store.put("k", b"v", ttl=0.25)
    clock.advance(0.2)
    assert await store.get("k") == b"v"
    clock.advance(0.05)
    assert await store.get("k") is None


async def test_put_without_ttl_removes_an_earlier_ttl(store: StateStore, clock: ManualClock) -> None:
    await store.put("k", b"v", ttl=5)
    await store.put("k", b"w")
    clock.advance(3600)
    assert await store.get("k") == b"w"


async def test_put_with_a_new_ttl_replaces_the_old_one(store: StateStore, clock: ManualClock) -> None:
    await store.put("k", b"v", ttl=5)
    clock.advance(4)
    await store.put("k", b"w", ttl=5)
    clock.advance(4)
    assert await store.get("k") == b"w"
    clock.advance(1)
    assert await store.get("k") is None


async def test_an_expired_key_is_absent_for_every_operation(store: StateStore, clock: ManualClock) -> None:
    for key in ("a", "b", "c", "d", "e", "f", "g"):
        await store.put(key, b"old", ttl=1)
    stale = await store.get_versioned("f")
    assert stale is not None
    clock.advance(1)
    assert await store.get("a") is None
    assert await store.get_versioned("a") is None
    assert await store.delete("b") is False
    assert await store.delete_if_equals("c", b"old") is False
    assert await store.put_if_absent("d", b"new") is True
    assert await store.get("d") == b"new"
    assert await store.incr("e", 5) == 5
    assert await store.compare_and_set("f", stale.version, b"new") is False
    assert await store.compare_and_set("g", None, b"new") is True
    assert await store.get("g") == b"new"
    page = await store.scan("")
    assert [key for key, _ in page.items] == ["d", "e", "g"]


# --- put_if_absent / delete_if_equals ---------------------------------------------------------------


async def test_put_if_absent_only_the_first_writer_wins(store: StateStore) -> None:
    assert await store.put_if_absent("claim", b"first") is True
    assert await store.put_if_absent("claim", b"second") is False
    assert await store.get("claim") == b"first"


async def test_put_if_absent_with_50_concurrent_claimers_has_exactly_one_winner(store: StateStore) -> None:
    results = await asyncio.gather(
        *(store.put_if_absent("claim", str(i).encode(), ttl=60) for i in range(50))
    )
    winners = [i for i, won in enumerate(results) if won]
    assert len(winners) == 1
    assert await store.get("claim") == str(winners[0]).encode()


async def test_put_if_absent_sets_the_ttl(store: StateStore, clock: ManualClock) -> None:
    assert await store.put_if_absent("claim", b"x", ttl=30)
    clock.advance(30)
    assert await store.put_if_absent("claim", b"y", ttl=30) is True
    assert await store.get("claim") == b"y"


async def test_delete_if_equals_releases_only_the_own_claim(store: StateStore) -> None:
    await store.put("claim", b"mine")
    assert await store.delete_if_equals("claim", b"theirs") is False
    assert await store.get("claim") == b"mine"
    assert await store.delete_if_equals("claim", b"mine") is True
    assert await store.get("claim") is None
    assert await store.delete_if_equals("claim", b"mine") is False


# --- incr -----------------------------------------------------------------------------------------


async def test_incr_creates_then_adds(store: StateStore) -> None:
    assert await store.incr("n") == 1
    assert await store.incr("n") == 2
    assert await store.incr("n", 10) == 12
    assert await store.incr("n", -15) == -3
    assert await store.get("n") == b"-3"


async def test_incr_starts_at_the_amount(store: StateStore) -> None:
    assert await store.incr("n", 7) == 7


async def test_incr_sets_the_ttl_only_when_it_creates_the_key(store: StateStore, clock: ManualClock) -> None:
    assert await store.incr("n", ttl=10) == 1
    clock.advance(6)
    assert await store.incr("n", ttl=10) == 2  # does not extend the window
    clock.advance(4)
    assert await store.get("n") is None
    assert await store.incr("n", ttl=10) == 1


async def test_incr_never_adds_a_ttl_to_an_existing_key(store: StateStore, clock: ManualClock) -> None:
    await store.incr("n")
    await store.incr("n", ttl=1)
    clock.advance(3600)
    assert await store.incr("n") == 3


async def test_incr_counts_a_value_put_as_decimal_text(store: StateStore) -> None:
    await store.put("n", b"41")
    assert await store.incr("n") == 42


async def test_incr_refuses_a_value_that_is_not_an_integer(store: StateStore) -> None:
    await store.put("n", b'{"a":1}')
    with pytest.raises(TidegateError, match="not an integer") as raised:
        await store.incr("n")
    assert not isinstance(raised.value, BackendUnavailable)
    assert await store.get("n") == b'{"a":1}'


async def test_100_concurrent_incr_count_to_100(store: StateStore) -> None:
    results = await asyncio.gather(*(store.incr("n", ttl=60) for _ in range(100)))
    assert sorted(results) == list(range(1, 101))
    assert await store.get("n") == b"100"


# --- versions and compare_and_set ---------------------------------------------------------------------


async def test_every_write_increases_the_version(store: StateStore) -> None:
    await store.put("k", b"1")
    first = await store.get_versioned("k")
    await store.incr("k")
    second = await store.get_versioned("k")
    await store.put("k", b"9")
    third = await store.get_versioned("k")
    assert first is not None and second is not None and third is not None
    assert first.version < second.version < third.version
    assert (second.value, third.value) == (b"2", b"9")


async def test_compare_and_set_succeeds_at_the_current_version(store: StateStore) -> None:
    await store.put("k", b"a")
    current = await store.get_versioned("k")
    assert current is not None
    assert await store.compare_and_set("k", current.version, b"b") is True
    after = await store.get_versioned("k")
    assert after is not None and after.value == b"b" and after.version > current.version


async def test_compare_and_set_fails_at_a_stale_version(store: StateStore) -> None:
    await store.put("k", b"a")
    stale = await store.get_versioned("k")
    assert stale is not None
    await store.put("k", b"b")
    assert await store.compare_and_set("k", stale.version, b"c") is False
    assert await store.get("k") == b"b"


async def test_compare_and_set_with_a_version_on_an_absent_key_fails(store: StateStore) -> None:
    assert await store.compare_and_set("k", 1, b"a") is False
    assert await store.get("k") is None


async def test_compare_and_set_with_none_creates_only_when_absent(store: StateStore) -> None:
    assert await store.compare_and_set("k", None, b"a") is True
    assert await store.compare_and_set("k", None, b"b") is False
    assert await store.get("k") == b"a"


async def test_compare_and_set_sets_the_ttl(store: StateStore, clock: ManualClock) -> None:
    assert await store.compare_and_set("k", None, b"a", ttl=5)
    current = await store.get_versioned("k")
    assert current is not None
    assert await store.compare_and_set("k", current.version, b"b", ttl=20)
    clock.advance(10)
    assert await store.get("k") == b"b"
    after = await store.get_versioned("k")
    assert after is not None
    assert await store.compare_and_set("k", after.version, b"c")  # no ttl: lives forever
    clock.advance(3600)
    assert await store.get("k") == b"c"


async def test_a_version_is_never_reused_after_delete(store: StateStore) -> None:
    await store.put("k", b"a")
    old = await store.get_versioned("k")
    assert old is not None
    await store.delete("k")
    await store.put("k", b"a")
    new = await store.get_versioned("k")
    assert new is not None and new.version > old.version
    assert await store.compare_and_set("k", old.version, b"stale") is False
    assert await store.get("k") == b"a"


async def test_a_version_is_never_reused_after_expiry(store: StateStore, clock: ManualClock) -> None:
    await store.put("k", b"a", ttl=1)
    old = await store.get_versioned("k")
    assert old is not None
    clock.advance(2)
    assert await store.compare_and_set("k", None, b"a")
    new = await store.get_versioned("k")
    assert new is not None and new.version > old.version
    assert await store.compare_and_set("k", old.version, b"stale") is False


async def test_concurrent_read_modify_write_loops_lose_no_update(store: StateStore) -> None:
    async def add_one() -> None:
        while True:
            current = await store.get_versioned("doc")
            count = 0 if current is None else int(orjson.loads(current.value)["count"])
            version = None if current is None else current.version
            if await store.compare_and_set("doc", version, orjson.dumps({"count": count + 1})):
                return
            await asyncio.sleep(0)

    await asyncio.gather(*(add_one() for _ in range(25)))
    assert orjson.loads(await store.get("doc") or b"{}") == {"count": 25}


# --- scan -----------------------------------------------------------------------------------------


async def test_scan_lists_live_keys_with_the_prefix_in_key_order(store: StateStore) -> None:
    for key in ("ab", "aa", "abc", "ab:2", "ab:1", "ac", "b", "a"):
        await store.put(key, key.encode())
    page = await store.scan("ab")
    assert page.items == [("ab", b"ab"), ("ab:1", b"ab:1"), ("ab:2", b"ab:2"), ("abc", b"abc")]
    assert page.cursor is None


async def test_scan_with_an_empty_prefix_lists_everything(store: StateStore) -> None:
    for key in ("b", "a", "c"):
        await store.put(key, b"")
    assert [key for key, _ in (await store.scan("")).items] == ["a", "b", "c"]


async def test_scan_pages_with_a_cursor(store: StateStore) -> None:
    for i in range(5):
        await store.put(f"ns:t:group:{i}", str(i).encode())
    await store.put("ns:t:other:0", b"")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await store.scan("ns:t:group:", cursor, limit=2)
        pages += 1
        assert len(page.items) <= 2
        seen.extend(key for key, _ in page.items)
        if page.cursor is None:
            break
        cursor = page.cursor
    assert seen == [f"ns:t:group:{i}" for i in range(5)]
    assert pages == 3


async def test_scan_cursor_is_none_when_the_last_page_is_exactly_full(store: StateStore) -> None:
    for i in range(4):
        await store.put(f"k{i}", b"")
    first = await store.scan("k", limit=2)
    assert first.cursor is not None
    second = await store.scan("k", first.cursor, limit=2)
    assert [key for key, _ in second.items] == ["k2", "k3"]
    assert second.cursor is None


async def test_scan_skips_expired_keys(store: StateStore, clock: ManualClock) -> None:
    await store.put("p:1", b"", ttl=1)
    await store.put("p:2", b"")
    await store.put("p:3", b"", ttl=1)
    clock.advance(1)
    page = await store.scan("p:", limit=1)
    assert page.items == [("p:2", b"")]
    assert page.cursor is None


async def test_scan_handles_escaped_and_non_ascii_prefixes(store: StateStore) -> None:
    keys = ["a%3Ab:c:dedup:x", "a%3Ab:c:dedup:y", "a%3Ab:d:dedup:x", "é:1", "é:2", "ê:1", "\U0010ffff", "z"]
    for key in keys:
        await store.put(key, b"")
    assert [k for k, _ in (await store.scan("a%3Ab:c:")).items] == ["a%3Ab:c:dedup:x", "a%3Ab:c:dedup:y"]
    assert [k for k, _ in (await store.scan("é")).items] == ["é:1", "é:2"]
    assert [k for k, _ in (await store.scan("\U0010ffff")).items] == ["\U0010ffff"]


async def test_scan_never_returns_an_empty_page_with_a_cursor(store: StateStore) -> None:
    await store.put("k1", b"")
    await store.put("k2", b"")
    page = await store.scan("k", limit=0)
    assert len(page.items) == 1 and page.cursor == "k1"


# --- time index -----------------------------------------------------------------------------------


async def test_due_returns_members_due_by_now_oldest_first(store: StateStore) -> None:
    await store.schedule("timers", "late", T0 + timedelta(seconds=30))
    await store.schedule("timers", "first", T0 - timedelta(seconds=10))
    await store.schedule("timers", "exact", T0)
    await store.schedule("timers", "second", T0 - timedelta(seconds=5, microseconds=1))
    due = await store.due("timers", T0)
    assert due == [
        ("first", T0 - timedelta(seconds=10)),
        ("second", T0 - timedelta(seconds=5, microseconds=1)),
        ("exact", T0),
    ]
    assert all(when.tzinfo is not None for _, when in due)


async def test_due_honours_the_limit_and_does_not_remove(store: StateStore) -> None:
    for i in range(5):
        await store.schedule("timers", f"m{i}", T0 + timedelta(seconds=i))
    now = T0 + timedelta(minutes=1)
    assert [m for m, _ in await store.due("timers", now, limit=2)] == ["m0", "m1"]
    assert [m for m, _ in await store.due("timers", now, limit=10)] == [f"m{i}" for i in range(5)]


async def test_members_due_at_the_same_instant_come_in_member_order(store: StateStore) -> None:
    for member in ("c", "a", "b"):
        await store.schedule("timers", member, T0)
    assert [m for m, _ in await store.due("timers", T0)] == ["a", "b", "c"]


async def test_rescheduling_moves_a_member(store: StateStore) -> None:
    await store.schedule("timers", "m", T0)
    await store.schedule("timers", "other", T0 + timedelta(seconds=1))
    await store.schedule("timers", "m", T0 + timedelta(seconds=2))
    assert await store.due("timers", T0) == []
    later = T0 + timedelta(seconds=5)
    assert [m for m, _ in await store.due("timers", later)] == ["other", "m"]
    await store.schedule("timers", "m", T0 - timedelta(seconds=1))
    assert await store.due("timers", T0) == [("m", T0 - timedelta(seconds=1))]


async def test_unschedule_removes_a_member(store: StateStore) -> None:
    await store.schedule("timers", "m", T0)
    await store.schedule("timers", "n", T0)
    assert await store.unschedule("timers", "m") is True
    assert await store.unschedule("timers", "m") is False
    assert await store.unschedule("missing-index", "m") is False
    assert await store.due("timers", T0) == [("n", T0)]


async def test_time_indexes_are_separate(store: StateStore) -> None:
    await store.schedule("a", "m", T0)
    await store.schedule("b", "m", T0 + timedelta(seconds=1))
    assert await store.due("a", T0) == [("m", T0)]
    assert await store.due("b", T0) == []
    assert await store.due("c", T0) == []


async def test_schedule_accepts_any_aware_time_zone(store: StateStore) -> None:
    from datetime import timezone

    await store.schedule("timers", "m", T0.astimezone(timezone(timedelta(hours=2))))
    assert await store.due("timers", T0) == [("m", T0)]


# --- sweep / ping / close ---------------------------------------------------------------------------


async def test_sweep_deletes_expired_keys(store: StateStore, clock: ManualClock, backend: str) -> None:
    await store.put("a", b"", ttl=1)
    await store.put("b", b"", ttl=2)
    await store.put("c", b"", ttl=100)
    await store.put("forever", b"")
    assert await store.sweep(clock.now()) == 0
    clock.advance(2)
    assert await store.sweep(clock.now()) == (2 if backend in SWEPT_BACKENDS else 0)
    assert await store.sweep(clock.now()) == 0
    assert [key for key, _ in (await store.scan("")).items] == ["c", "forever"]


async def test_sweep_leaves_a_rewritten_key_alone(store: StateStore, clock: ManualClock) -> None:
    await store.put("k", b"old", ttl=1)
    await store.put("k", b"new", ttl=100)
    clock.advance(2)
    await store.sweep(clock.now())
    assert await store.get("k") == b"new"


async def test_ping_answers(store: StateStore) -> None:
    await store.ping()


async def test_a_closed_store_is_unavailable(store: StateStore) -> None:
    await store.close()
    with pytest.raises(BackendUnavailable):
        await store.ping()
    with pytest.raises(BackendUnavailable):
        await store.get("k")
