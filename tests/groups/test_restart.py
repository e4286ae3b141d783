"""A pending group survives a restart on SQLite (the embedded default): the store is the only source of
truth, so the restarted process lists the group, and its timer loop flushes it when it is due."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from tests.api.conftest import make_settings
from tests.groups._receiver import Receiver
from tests.helpers.server import running_server
from tests.stream_http._client import subscribe
from tidegate.clock import ManualClock

RULES = """\
rules:
  - name: group-restart
    priority: 1
    condition: {field: action.action_type, eq: disk_full}
    action: {type: group, group_by: [metadata.host], group_wait_seconds: 60, notify_provider: pager}
"""


async def test_a_pending_group_survives_a_restart_and_flushes_after_it(tmp_path: Path) -> None:
    receiver = Receiver().start()
    try:
        settings = make_settings(
            tmp_path,
            providers=[
                {"name": "log", "type": "log"},
                {"name": "pager", "type": "webhook", "url": receiver.url},
            ],
            background={"poll_interval_seconds": 0.1},
        )
        (tmp_path / "rules" / "20-groups.yaml").write_text(RULES)
        clock = ManualClock()
        body = {"namespace": "ops", "tenant": "acme", "provider": "log", "action_type": "disk_full"}
        async with running_server(settings, clock=clock) as url, httpx.AsyncClient(base_url=url) as client:
            for n in range(3):
                sent = {**body, "id": f"disk-{n}", "payload": {"n": n}, "metadata": {"host": "db-1"}}
                answer = (await client.post("/v1/dispatch", json=sent)).json()
                assert answer["outcome"] == "grouped", answer
        key = answer["group_key"]
        async with running_server(settings, clock=clock) as url, httpx.AsyncClient(base_url=url) as client:
            before = (await client.get(f"/v1/groups/{key}")).json()
            assert (before["group"]["state"], before["group"]["event_count"]) == ("pending", 3)
            async with subscribe(client, {"event_type": "group_flushed"}) as stream:
                clock.advance(60)
                [flushed] = await stream.take(1, within=10.0)
            assert orjson.loads(flushed.data)["event_count"] == 3
            after = (await client.get(f"/v1/groups/{key}")).json()["group"]
            assert after["state"] == "notified"
        [posted] = receiver.received("ops")
        assert [e["action_id"] for e in posted["payload"]["events"]] == ["disk-0", "disk-1", "disk-2"]
    finally:
        receiver.stop()
