"""The group-commit writer on its own, with a fake transaction that the test controls."""

from __future__ import annotations

import asyncio

import pytest

from tidegate.errors import BackendUnavailable
from tidegate.group_commit import GroupCommitter


class FakeDatabase:
    """Records each batch; a batch can be held open (``gate``) or made to fail (``failing`` as it starts)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failing = False
        self.attempts = 0

    async def write(self, batch: list[int]) -> None:
        self.attempts += 1
        failing = self.failing
        await self.gate.wait()
        if failing:
            raise OSError("disk on fire")
        self.batches.append(batch)


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


async def test_a_lone_item_is_committed_without_waiting_for_company(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=256)
    committer.start()
    await committer.submit(1)
    assert db.batches == [[1]] and committer.commits == 1
    await committer.submit(2)
    assert db.batches == [[1], [2]] and committer.commits == 2
    await committer.close()


async def test_items_arriving_during_a_commit_share_the_next_one(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=256)
    committer.start()
    db.gate.clear()
    first = asyncio.create_task(committer.submit(0))
    await asyncio.sleep(0.01)  # the writer is now inside the first commit
    rest = [asyncio.create_task(committer.submit(i)) for i in range(1, 50)]
    await asyncio.sleep(0)
    assert not first.done()
    db.gate.set()
    await asyncio.gather(first, *rest)
    assert db.batches == [[0], list(range(1, 50))]
    await committer.close()


async def test_a_batch_never_exceeds_batch_size_and_keeps_order(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=4)
    committer.start()
    await asyncio.gather(*(committer.submit(i) for i in range(10)))
    assert db.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    await committer.close()


async def test_a_failed_commit_fails_only_its_own_waiters(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=256)
    committer.start()
    db.gate.clear()
    db.failing = True
    doomed = [asyncio.create_task(committer.submit(i)) for i in range(3)]
    await asyncio.sleep(0.01)
    db.failing = False
    later = asyncio.create_task(committer.submit(99))
    db.gate.set()
    results = await asyncio.gather(*doomed, return_exceptions=True)
    assert all(isinstance(r, BackendUnavailable) and isinstance(r.__cause__, OSError) for r in results)
    await later
    assert db.batches == [[99]]
    await committer.close()


async def test_submit_after_close_is_refused(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=8)
    committer.start()
    await committer.close()
    with pytest.raises(BackendUnavailable, match="closed"):
        await committer.submit(1)
    unstarted = GroupCommitter(db.write, batch_size=8)
    with pytest.raises(BackendUnavailable):
        await unstarted.submit(1)
    await unstarted.close()


async def test_enqueue_hands_the_item_to_the_writer_before_the_caller_next_waits(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=8)
    committer.start()
    db.gate.clear()
    committed = committer.enqueue(1)
    await asyncio.sleep(0)  # one suspension: the writer has taken the item and started its commit
    assert db.attempts == 1 and not committed.done()
    db.gate.set()
    await committed
    assert db.batches == [[1]]
    await committer.close()
    with pytest.raises(BackendUnavailable, match="closed"):
        committer.enqueue(2)  # refused at once, not when awaited


async def test_cancelling_an_enqueued_wait_leaves_the_write_to_finish(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=8)
    committer.start()
    db.gate.clear()
    committer.enqueue(1).cancel()
    db.gate.set()
    await committer.flush()
    assert db.batches == [[1]]
    await committer.close()


async def test_enqueue_in_async_mode_is_done_once_queued_or_once_there_is_room(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=1, sync=False, queue_size=1)
    committer.start()
    db.gate.clear()
    first = committer.enqueue(0)
    assert first.done()
    await asyncio.sleep(0.01)  # the writer holds item 0 in a commit
    assert committer.enqueue(1).done()
    blocked = committer.enqueue(2)  # the queue is full: this one waits for room
    await asyncio.sleep(0.01)
    assert not blocked.done()
    db.gate.set()
    await blocked
    await committer.flush()
    assert db.batches == [[0], [1], [2]]
    await committer.close()


async def test_close_commits_what_is_queued(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=2, sync=False)
    committer.start()
    for i in range(5):
        await committer.submit(i)
    await committer.close()
    assert [i for batch in db.batches for i in batch] == [0, 1, 2, 3, 4]


async def test_async_mode_waits_for_room_when_the_queue_is_full(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=1, sync=False, queue_size=2)
    committer.start()
    db.gate.clear()
    await committer.submit(0)
    await asyncio.sleep(0.01)  # the writer holds item 0 in a commit
    await committer.submit(1)
    await committer.submit(2)
    blocked = asyncio.create_task(committer.submit(3))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    db.gate.set()
    await blocked
    await committer.flush()
    assert db.batches == [[0], [1], [2], [3]]
    await committer.close()


async def test_async_mode_retries_a_failed_batch_in_order(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=10, sync=False)
    committer.start()
    db.failing = True
    await committer.submit(1)
    await committer.submit(2)
    await asyncio.sleep(0.1)
    assert db.attempts >= 2 and db.batches == []
    db.failing = False
    await asyncio.wait_for(committer.flush(), timeout=5)
    assert [i for batch in db.batches for i in batch] == [1, 2]
    await committer.close()


async def test_async_mode_hands_what_it_cannot_write_to_on_unwritten_at_close(db: FakeDatabase) -> None:
    handed: list[int] = []

    async def keep(items: list[int]) -> None:
        handed.extend(items)

    committer = GroupCommitter(db.write, batch_size=2, sync=False, on_unwritten=keep)
    committer.start()
    db.failing = True
    for i in range(5):
        await committer.submit(i)
    await asyncio.wait_for(committer.close(), timeout=5)
    assert handed == [0, 1, 2, 3, 4]
    assert db.batches == []


async def test_async_mode_without_on_unwritten_gives_up_at_close(
    db: FakeDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    committer = GroupCommitter(db.write, batch_size=2, sync=False)
    committer.start()
    db.failing = True
    await committer.submit(1)
    await asyncio.wait_for(committer.close(), timeout=5)
    assert "1 queued records lost" in caplog.text


async def test_a_writer_that_dies_releases_its_waiters(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=1)
    committer.start()
    db.gate.clear()
    in_commit = asyncio.create_task(committer.submit(1))
    await asyncio.sleep(0.01)
    queued = asyncio.create_task(committer.submit(2))
    await asyncio.sleep(0)
    assert committer._task is not None
    committer._task.cancel()
    results = await asyncio.gather(in_commit, queued, return_exceptions=True)
    assert all(isinstance(r, BackendUnavailable) for r in results)
    assert not committer.is_running
    await committer.close()  # closing a dead writer neither hangs nor raises


async def test_a_closed_committer_can_start_again(db: FakeDatabase) -> None:
    committer = GroupCommitter(db.write, batch_size=8)
    committer.start()
    await committer.close()
    committer.start()
    await committer.submit(1)
    assert db.batches == [[1]]
    await committer.close()
