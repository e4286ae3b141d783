"""``DELETE /v1/groups/{group_key}`` over HTTP when the flush's notification cannot be dispatched (api.md §8):
the answer is 503 ``backend_unavailable`` and the group keeps its events, so a retried DELETE flushes them
to the real webhook endpoint once. Real server on loopback; its state store stops answering the
notification's dedup claim while the test says so (a backend outage at exactly that moment)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_settings
from tests.groups._receiver import Receiver
from tests.groups.test_api import GROUP_RULES, alert, dispatch
from tests.helpers.errors import assert_error
from tests.helpers.server import ServerThread
from tidegate.api.app import create_app
from tidegate.errors import BackendUnavailable
from tidegate.store.base import StateStore

DEDUP_NOTIFICATIONS = """\
  - name: dedup-notifications
    priority: 2
    condition: {field: action.action_type, eq: group_notification}
    action: {type: deduplicate, ttl_seconds: 60}
"""


@dataclass
class Outage:
    """Makes the server's state store refuse dedup claims while ``on``."""

    on: bool = False

    def install(self, store: StateStore) -> None:
        claim = store.put_if_absent

        async def put_if_absent(key: str, value: bytes, ttl: float | None = None) -> bool:
            if self.on and ":dedup:" in key:
                raise BackendUnavailable("state store did not answer")
            return await claim(key, value, ttl)

        store.put_if_absent = put_if_absent  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[tuple[str, Outage]]:
    directory: Path = tmp_path_factory.mktemp("groups-close")
    settings = make_settings(
        directory,
        providers=[{"name": "log", "type": "log"}, {"name": "pager", "type": "webhook", "url": receiver.url}],
        background={"poll_interval_seconds": 0.1},
    )
    (directory / "rules" / "20-groups.yaml").write_text(GROUP_RULES + DEDUP_NOTIFICATIONS)
    app = create_app(settings)
    server = ServerThread(app)
    url = server.start()
    failing = Outage()
    failing.install(app.state.services.store)
    try:
        yield url, failing
    finally:
        failing.on = False
        server.stop()


@pytest.fixture
async def client(outage: tuple[str, Outage]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=outage[0], timeout=20.0) as http:
        yield http
    outage[1].on = False


async def test_a_delete_that_cannot_notify_is_503_and_keeps_the_group(
    client: httpx.AsyncClient, outage: tuple[str, Outage], receiver: Receiver
) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:10]}"
    answers = [await dispatch(client, alert(namespace, n)) for n in range(3)]
    key = answers[0]["group_key"]
    outage[1].on = True
    assert_error(await client.delete(f"/v1/groups/{key}"), 503, "backend_unavailable", retryable=True)
    kept = await client.get(f"/v1/groups/{key}")
    assert kept.status_code == 200, kept.text
    group = kept.json()["group"]
    assert (group["group_id"], group["state"], group["event_count"]) == (answers[0]["group_id"], "pending", 3)
    assert [e["action_id"] for e in kept.json()["events"]] == [f"{namespace}-{n}" for n in range(3)]
    assert receiver.received(namespace) == []
    outage[1].on = False
    retried = await client.delete(f"/v1/groups/{key}")
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert (body["event_count"], body["status"], body["notified"]) == (3, "flushed", True)
    [posted] = receiver.received(namespace)
    assert [e["action_id"] for e in posted["payload"]["events"]] == [f"{namespace}-{n}" for n in range(3)]
    assert_error(await client.get(f"/v1/groups/{key}"), 404, "not_found")
