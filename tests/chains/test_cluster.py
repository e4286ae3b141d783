"""Three real servers with background workers on one shared store (features.md §16, §19, §20): every step
of every chain runs exactly once cluster-wide (the loopback target counts the calls), any instance
answers for any run, and /v1/stream on one instance shows the progress made on the others."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.chains._target import Target
from tests.cluster._cluster import clients, cluster
from tests.stream_http._client import subscribe

CHAINS = 6
RULES = """\
rules:
  - name: start-trio
    condition: {field: action.action_type, eq: run_trio}
    action: {type: chain, chain: trio}
"""


@pytest.mark.parametrize("backend", ["redis", "postgres"])
async def test_each_step_runs_once_across_three_instances(
    backend: str, tmp_path: Path, target: Target
) -> None:
    target.answer("/b", default=(200, {"n": 1}, 0.05))
    providers = [{"name": "log", "type": "log"}] + [
        {"name": name, "type": "webhook", "url": target.url(f"/{name}")} for name in ("a", "b", "c")
    ]
    steps = [
        {
            "name": name,
            "provider": name,
            "action_type": f"do_{name}",
            "payload_template": {"i": "{{origin.payload.i}}"},
        }
        for name in ("a", "b", "c")
    ]
    async with (
        cluster(
            tmp_path,
            backend,
            RULES,
            count=3,
            providers=providers,
            chains={"definitions": [{"name": "trio", "steps": steps}]},
            background={"poll_interval_seconds": 0.1},
        ) as trio,
        clients(trio.urls) as http,
    ):
        async with subscribe(http[2], params={"event_type": "chain_completed"}) as stream:
            started: list[str] = []
            for i in range(CHAINS):
                action = {
                    "namespace": "research",
                    "tenant": "acme",
                    "provider": "log",
                    "action_type": "run_trio",
                    "payload": {"i": i},
                }
                response = await http[i % 3].post("/v1/dispatch", json=action)
                assert response.status_code == 200, response.text
                started.append(response.json()["chain_id"])
            completed: dict[str, dict[str, Any]] = {}
            async with asyncio.timeout(30):
                while len(completed) < CHAINS:
                    event = orjson.loads((await stream.take(1, within=30))[0].data)
                    completed[event["chain_id"]] = event
        assert set(completed) == set(started)
        assert {event["status"] for event in completed.values()} == {"completed"}
        for name in ("a", "b", "c"):
            calls = Counter(
                (body["metadata"]["chain_id"], body["metadata"]["chain_step"])
                for body in target.received(f"/{name}")
            )
            assert set(calls) == {(chain_id, name) for chain_id in started}
            assert set(calls.values()) == {1}, calls  # exactly once per chain
        for n, chain_id in enumerate(started):
            answer = await http[(n + 1) % 3].get(f"/v1/executions/{chain_id}/history")
            entries = answer.json()["events"]
            assert [entry["seq"] for entry in entries] == list(range(1, len(entries) + 1))
            assert [entry["type"] for entry in entries].count("step_start") == 3
            assert [entry["type"] for entry in entries].count("processing") == 1
        listed = (await http[1].get("/v1/chains", params={"chain_name": "trio"})).json()
        assert listed["total"] == CHAINS
