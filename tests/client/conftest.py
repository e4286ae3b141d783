"""A real server on loopback for the SDK and CLI tests: the embedded default plus rules that reach every
feature the SDK covers (approvals, groups, a state machine, circuit breakers, recurring actions)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.api.conftest import make_settings
from tests.helpers.server import serving
from tidegate.client import AsyncClient
from tidegate.config import Settings

RULES = """\
rules:
  - name: block-spam
    priority: 1
    description: Block spam actions
    condition: {field: action.action_type, eq: spam}
    action: {type: suppress}
  - name: approve-refunds
    priority: 2
    condition: {field: action.action_type, eq: refund}
    action: {type: request_approval, notify_provider: log, timeout_seconds: 600, message: needs a manager}
  - name: group-cpu
    priority: 3
    condition: {field: action.action_type, eq: cluster_cpu}
    action: {type: group, group_by: [metadata.cluster], group_wait_seconds: 600, notify_provider: log}
  - name: tickets
    priority: 4
    condition: {field: action.action_type, eq: ticket}
    action: {type: state_machine, state_machine: ticket}
  - name: run-pipeline
    priority: 5
    condition: {field: action.action_type, eq: pipeline}
    action: {type: chain, chain: two-step}
  - name: run-slow
    priority: 6
    condition: {field: action.action_type, eq: slow_pipeline}
    action: {type: chain, chain: slow}
  - name: quiet-hours
    priority: 9
    enabled: false
    condition: {field: action.action_type, eq: quiet}
    action: {type: deny}
"""

TICKET = {
    "name": "ticket",
    "initial_state": "open",
    "states": ["open", "acknowledged", "closed"],
    "transitions": [{"from": "open", "to": "acknowledged"}, {"from": "acknowledged", "to": "closed"}],
}
CHAINS = {
    "definitions": [
        {
            "name": "two-step",
            "steps": [
                {"name": "first", "provider": "log", "action_type": "step_one"},
                {"name": "second", "provider": "log", "action_type": "step_two"},
            ],
        },
        {
            "name": "slow",
            "steps": [
                {"name": "wait", "provider": "log", "action_type": "wait", "delay_seconds": 600},
            ],
        },
    ]
}
BREAKERS = {"enabled": True, "failure_threshold": 3, "providers": {"webhook": {"fallback_provider": "log"}}}
SECRET = "00" * 32


def client_settings(directory: Path, **sections: object) -> Settings:
    rules = directory / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    (rules / "10-basic.yaml").write_text(RULES)
    return make_settings(
        directory,
        state_machines=[TICKET],
        chains=CHAINS,
        background={"poll_interval_seconds": 0.1},
        circuit_breaker=BREAKERS,
        approvals={"keys": [{"kid": "k1", "secret": SECRET}]},
        stream={"keep_alive_seconds": 1, "replay_max_events": 200},
        **sections,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(client_settings(tmp_path_factory.mktemp("client"))) as url:
        yield url


@pytest.fixture
async def tg(server: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server, timeout=10.0) as client:
        yield client


@pytest.fixture
def tenant() -> str:
    """Each test works in a tenant of its own on the shared server."""
    return f"t-{uuid.uuid4().hex[:10]}"


def action(tenant: str, action_type: str = "send_email", **extra: object) -> dict[str, object]:
    return {
        "namespace": "notifications",
        "tenant": tenant,
        "provider": "log",
        "action_type": action_type,
        "payload": {"to": "user@example.com"},
        **extra,
    }
