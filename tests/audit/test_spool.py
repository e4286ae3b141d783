"""The audit spool (features.md §11 "Write failures")."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from tests.audit.audit_samples import make_record
from tidegate.audit.base import AuditQuery
from tidegate.audit.memory import MemoryAuditStore
from tidegate.audit.spool import AuditSpool
from tidegate.audit.sqlite import SqliteAuditStore
from tidegate.errors import BackendUnavailable
from tidegate.model.audit import AuditRecord


class FlakyStore(MemoryAuditStore):
    """Accepts ``accept`` more records, then fails every append."""

    def __init__(self, accept: int) -> None:
        super().__init__()
        self.accept = accept

    async def append(self, record: AuditRecord) -> None:
        if self.accept <= 0:
            raise BackendUnavailable("audit store down")
        self.accept -= 1
        await super().append(record)


@pytest.fixture
def spool(tmp_path: Path) -> AuditSpool:
    return AuditSpool(tmp_path / "data" / "audit-spool.jsonl")


async def _all(store: MemoryAuditStore) -> list[AuditRecord]:
    return (await store.query(AuditQuery(limit=1000))).records[::-1]


def test_append_writes_one_json_line_per_record(spool: AuditSpool) -> None:
    records = [make_record(i) for i in range(3)]
    for record in records:
        spool.append(record)
    lines = spool.path.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == [r.to_json() for r in records]
    assert not spool.is_empty()
    assert spool.path.stat().st_mode & 0o777 == 0o600


async def test_replay_writes_in_order_and_empties_the_spool(spool: AuditSpool) -> None:
    records = [make_record(i) for i in range(3)]
    for record in records:
        await asyncio.to_thread(spool.append, record)
    store = MemoryAuditStore()
    assert await spool.replay(store) == 3
    assert await _all(store) == records
    assert spool.is_empty()
    assert await spool.replay(store) == 0


async def test_replay_of_a_missing_spool_writes_nothing(spool: AuditSpool) -> None:
    assert spool.is_empty()
    assert await spool.replay(MemoryAuditStore()) == 0


async def test_a_failed_replay_keeps_the_rest_for_next_time(spool: AuditSpool) -> None:
    records = [make_record(i) for i in range(5)]
    for record in records:
        spool.append(record)
    store = FlakyStore(accept=2)
    with pytest.raises(BackendUnavailable):
        await spool.replay(store)
    assert await _all(store) == records[:2]
    remaining = [orjson.loads(line)["id"] for line in spool.path.read_bytes().splitlines()]
    assert remaining == [r.id for r in records[2:]]
    store.accept = 100
    assert await spool.replay(store) == 3
    assert await _all(store) == records
    assert spool.is_empty()


async def test_a_long_spool_is_replayed_in_order_across_chunks(spool: AuditSpool, tmp_path: Path) -> None:
    records = [make_record(i / 1000) for i in range(600)]
    for record in records:
        spool.append(record)
    store = SqliteAuditStore(tmp_path / "audit.db")
    await store.open()
    try:
        assert await spool.replay(store) == 600
        assert store.commits < 100  # replayed records share group commits
        page = await store.query(AuditQuery(limit=1000))
        assert page.records == records[::-1]
    finally:
        await store.close()


async def test_a_repeated_replay_writes_no_duplicates(spool: AuditSpool, tmp_path: Path) -> None:
    records = [make_record(i) for i in range(3)]
    for record in records:
        spool.append(record)
    copy = spool.path.read_bytes()
    store = SqliteAuditStore(tmp_path / "audit.db")
    await store.open()
    try:
        await spool.replay(store)
        spool.path.write_bytes(copy)  # as if the process died before the spool was cut
        assert await spool.replay(store) == 3
        assert (await store.query(AuditQuery())).total == 3
    finally:
        await store.close()


async def test_lines_that_are_not_records_are_dropped(
    spool: AuditSpool, caplog: pytest.LogCaptureFixture
) -> None:
    good = [make_record(i) for i in range(3)]
    spool.append(good[0])
    with spool.path.open("ab") as file:
        file.write(b'not json\n[1,2]\n{"id": "x"}\n\n')
    spool.append(good[1])
    with spool.path.open("ab") as file:
        file.write(b'{"id": "cut short by a cra')  # a crash mid-write
    spool.append(good[2])  # starts on a fresh line
    store = MemoryAuditStore()
    assert await spool.replay(store) == 3
    assert await _all(store) == good
    assert spool.is_empty()
    assert caplog.text.count("dropping a line") == 4


async def test_records_spooled_during_a_replay_are_kept(spool: AuditSpool) -> None:
    first, late = make_record(0), make_record(1)
    spool.append(first)

    class SpoolingStore(MemoryAuditStore):
        async def append(self, record: AuditRecord) -> None:
            await super().append(record)
            await asyncio.to_thread(spool.append, late)  # another dispatch fails meanwhile

    store = SpoolingStore()
    assert await spool.replay(store) == 1
    lines = spool.path.read_bytes().splitlines()
    assert [orjson.loads(line)["id"] for line in lines] == [late.id]


class _HeldStore(MemoryAuditStore):
    """An audit store whose appends wait until the test lets them through."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def append(self, record: AuditRecord) -> None:
        await self.release.wait()
        await super().append(record)


async def test_many_spooling_dispatches_during_a_replay_do_not_starve_it_of_threads(tmp_path: Path) -> None:
    """The spool's lock is held only inside a worker thread's own file work, never across an await, so
    spoolers queued on it cannot take every worker thread while a replay needs one (the event spool's
    deadlock, stream/spool.py)."""
    from concurrent.futures import ThreadPoolExecutor

    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=2))
    spool = AuditSpool(tmp_path / "audit-spool.jsonl")
    await asyncio.to_thread(spool.append, make_record(id="r-0", action_id="a-0"))
    store = _HeldStore()
    replay = asyncio.create_task(spool.replay(store))
    await asyncio.sleep(0.05)  # the replay waits on the store
    adds = [
        asyncio.create_task(asyncio.to_thread(spool.append, make_record(id=f"r-{i}", action_id=f"a-{i}")))
        for i in range(1, 9)
    ]
    await asyncio.sleep(0.05)
    store.release.set()
    assert await asyncio.wait_for(replay, timeout=10) == 1
    await asyncio.wait_for(asyncio.gather(*adds), timeout=10)
    assert await spool.replay(store) == 8
