"""The AuditStore contract (audit/base.py, api.md §5), run against every audit backend."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.audit.audit_samples import T0, make_record
from tidegate.audit.base import AuditQuery, AuditStore
from tidegate.errors import BackendUnavailable
from tidegate.model.audit import AuditRecord


def ids(records: list[AuditRecord]) -> list[str]:
    return [record.id for record in records]


async def test_a_record_reads_back_field_for_field(audit_store: AuditStore) -> None:
    record = make_record(
        chain_id="chain-1",
        matched_rule="block-spam",
        dedup_key="d",
        fingerprint="f",
        status="firing",
        starts_at=T0 - timedelta(hours=1),
        ends_at=T0 + timedelta(hours=1),
        trace_context={"traceparent": "00-abc-def-01"},
        metadata={"a": "1", "b": "ü"},
        action_payload=[1, "two", {"three": 3.5}, None, True],
        completed_at=T0 + timedelta(microseconds=123456),
    )
    await audit_store.append(record)
    assert await audit_store.get(record.action_id) == record
    page = await audit_store.query(AuditQuery())
    assert page.records == [record] and page.total == 1


async def test_a_record_without_payload_or_expiry_reads_back(audit_store: AuditStore) -> None:
    record = make_record(action_payload=None, expires_at=None)
    await audit_store.append(record)
    assert await audit_store.get(record.action_id) == record


async def test_get_of_an_unknown_action_is_none(audit_store: AuditStore) -> None:
    assert await audit_store.get("nope") is None


async def test_get_returns_the_newest_record_of_the_action(audit_store: AuditStore) -> None:
    pending = make_record(0, action_id="approved", outcome="pending_approval")
    executed = make_record(60, action_id="approved", outcome="executed")
    await audit_store.append(executed)
    await audit_store.append(pending)
    await audit_store.append(make_record(120))
    assert await audit_store.get("approved") == executed


async def test_get_breaks_a_time_tie_by_the_newest_id(audit_store: AuditStore) -> None:
    first, second = make_record(5, action_id="a"), make_record(5, action_id="a")
    await audit_store.append(second)
    await audit_store.append(first)
    got = await audit_store.get("a")
    assert got is not None and got.id == second.id


@pytest.mark.parametrize(
    ("field", "value", "other"),
    [
        ("namespace", "billing", "notifications"),
        ("tenant", "tenant-2", "tenant-1"),
        ("provider", "webhook", "email"),
        ("action_type", "spam", "send_email"),
        ("matched_rule", "block-spam", None),
        ("caller_id", "alice", "team-key"),
        ("chain_id", "chain-9", None),
        ("outcome", "suppressed", "executed"),
        ("verdict", "suppress", "allow"),
    ],
)
async def test_every_filter_matches_exactly(
    audit_store: AuditStore, field: str, value: str, other: str | None
) -> None:
    wanted = [make_record(i, **{field: value}) for i in range(3)]
    for i in range(4):
        await audit_store.append(make_record(i + 0.5, **{field: other}))
    await audit_store.append(make_record(9, **{field: value + "-suffix"}))
    await audit_store.append(make_record(9, **{field: value.upper()}))
    for record in wanted:
        await audit_store.append(record)
    page = await audit_store.query(AuditQuery(**{field: value}))  # type: ignore[arg-type]
    assert ids(page.records) == ids(wanted[::-1])
    assert page.total == 3


async def test_filters_combine(audit_store: AuditStore) -> None:
    both = make_record(1, tenant="t2", outcome="failed")
    await audit_store.append(both)
    await audit_store.append(make_record(2, tenant="t2"))
    await audit_store.append(make_record(3, outcome="failed"))
    page = await audit_store.query(AuditQuery(tenant="t2", outcome="failed"))
    assert ids(page.records) == [both.id] and page.total == 1


async def test_from_and_to_are_inclusive_bounds_on_dispatched_at(audit_store: AuditStore) -> None:
    records = [make_record(seconds) for seconds in (0, 10, 10.000001, 20, 30)]
    for record in records:
        await audit_store.append(record)
    page = await audit_store.query(
        AuditQuery(from_=T0 + timedelta(seconds=10), to=T0 + timedelta(seconds=20))
    )
    assert ids(page.records) == ids(records[1:4][::-1])
    assert page.total == 3
    assert (await audit_store.query(AuditQuery(from_=T0 + timedelta(seconds=30)))).total == 1
    assert (await audit_store.query(AuditQuery(to=T0 - timedelta(microseconds=1)))).total == 0
    assert (await audit_store.query(AuditQuery(to=T0))).total == 1


async def test_records_are_newest_first_with_ties_broken_by_id(audit_store: AuditStore) -> None:
    a, b, c, d = make_record(5), make_record(5), make_record(1), make_record(9)
    for record in (b, c, d, a):
        await audit_store.append(record)
    page = await audit_store.query(AuditQuery())
    assert ids(page.records) == [d.id, b.id, a.id, c.id]


async def test_total_ignores_limit_and_offset(audit_store: AuditStore) -> None:
    records = [make_record(i) for i in range(7)]
    for record in records:
        await audit_store.append(record)
    await audit_store.append(make_record(100, tenant="other"))
    newest_first = ids(records[::-1])
    cases = [
        (3, 0, newest_first[0:3]),
        (3, 3, newest_first[3:6]),
        (3, 6, newest_first[6:]),
        (3, 10, []),
        (7, 0, newest_first),
        (50, 2, newest_first[2:]),
        (1, 7, []),
    ]
    for limit, offset, expected in cases:
        page = await audit_store.query(AuditQuery(tenant="tenant-1", limit=limit, offset=offset))
        assert (ids(page.records), page.total) == (expected, 7), (limit, offset)
    assert (await audit_store.query(AuditQuery(tenant="nobody"))).total == 0
    assert (await audit_store.query(AuditQuery(tenant="nobody", offset=5))).total == 0


async def test_appending_a_record_id_twice_stores_it_once(audit_store: AuditStore) -> None:
    record = make_record()
    await audit_store.append(record)
    await audit_store.append(replace(record))
    assert (await audit_store.query(AuditQuery())).total == 1


async def test_200_concurrent_appends_are_each_readable_when_they_return(audit_store: AuditStore) -> None:
    async def append_then_read(record: AuditRecord) -> bool:
        await audit_store.append(record)
        return await audit_store.get(record.action_id) == record

    records = [make_record(i / 1000) for i in range(200)]
    assert all(await asyncio.gather(*(append_then_read(r) for r in records)))
    assert (await audit_store.query(AuditQuery(limit=1000))).total == 200


async def test_a_begun_append_is_readable_once_its_future_ends(audit_store: AuditStore) -> None:
    records = [make_record(i / 1000) for i in range(3)]
    committing = [audit_store.begin_append(record) for record in records]
    await asyncio.gather(*committing)
    for record in records:
        assert await audit_store.get(record.action_id) == record


async def test_purge_deletes_expired_records_in_batches(audit_store: AuditStore) -> None:
    now = T0 + timedelta(days=30, seconds=5)
    expired = [make_record(i) for i in range(5)]  # expire at T0 + 30 days + i seconds, i <= 5
    at_the_edge = make_record(5)
    kept = [
        make_record(6),
        make_record(7, expires_at=None),
        make_record(0, expires_at=now + timedelta(days=1)),
    ]
    for record in (*expired, at_the_edge, *kept):
        await audit_store.append(record)
    assert await audit_store.purge(now, batch=2) == 6
    page = await audit_store.query(AuditQuery())
    assert sorted(ids(page.records)) == sorted(ids(kept)) and page.total == 3
    assert await audit_store.get(expired[0].action_id) is None
    assert await audit_store.purge(now) == 0


async def test_purge_keeps_the_other_records_of_an_action(audit_store: AuditStore) -> None:
    old = make_record(0, action_id="a", expires_at=T0)
    new = make_record(1, action_id="a", expires_at=None)
    await audit_store.append(old)
    await audit_store.append(new)
    assert await audit_store.purge(T0) == 1
    assert await audit_store.get("a") == new


async def test_ping_and_close(audit_store: AuditStore) -> None:
    await audit_store.ping()
    await audit_store.close()
    with pytest.raises(BackendUnavailable):
        await audit_store.ping()
    with pytest.raises(BackendUnavailable):
        await audit_store.append(make_record())
    with pytest.raises(BackendUnavailable):
        audit_store.begin_append(make_record())  # refused at once
