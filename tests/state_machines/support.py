"""A configuration with two state machines and the rules that use them, for every state-machine suite."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import make_settings
from tidegate.config import Settings

__all__ = ["ALERT", "MACHINES", "RULES", "TIMEOUT_SECONDS", "alert_action", "machine_settings"]

#: The ``firing`` timeout. The minimum a definition allows, so real-clock tests wait about a second.
TIMEOUT_SECONDS = 1

ALERT: dict[str, object] = {
    "name": "alert",
    "initial_state": "firing",
    "states": ["firing", "acknowledged", "resolved", "stale"],
    "transitions": [
        {"from": "firing", "to": "acknowledged"},
        {"from": "firing", "to": "resolved", "notify": True},
        {"from": "acknowledged", "to": "resolved", "notify": True},
        {"from": "stale", "to": "firing"},
    ],
    "timeouts": [
        {"in_state": "firing", "after_seconds": TIMEOUT_SECONDS, "transition_to": "stale", "notify": True},
        {"in_state": "stale", "after_seconds": 600, "transition_to": "resolved"},
    ],
    "notify_provider": "log",
    "retention_seconds": 3600,
}
TICKET: dict[str, object] = {
    "name": "ticket",
    "initial_state": "open",
    "states": ["open", "closed"],
    "transitions": [{"from": "open", "to": "closed"}],
}
MACHINES = [ALERT, TICKET]

# ``alerts`` also matches the alert machine's own notifications (namespace monitoring): the loop guard
# must execute those as ``allow``.
RULES = """\
rules:
  - name: tickets
    priority: 1
    condition: {field: action.action_type, eq: ticket}
    action: {type: state_machine, state_machine: ticket}
  - name: alerts
    priority: 2
    condition: {field: action.namespace, eq: monitoring}
    action: {type: state_machine, state_machine: alert, fingerprint_fields: [metadata.cluster]}
"""


def machine_settings(directory: Path, **sections: object) -> Settings:
    rules = directory / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    (rules / "10-state.yaml").write_text(RULES)
    return make_settings(directory, state_machines=MACHINES, **sections)


def alert_action(fingerprint: str | None = "alert-cluster1-cpu", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "namespace": "monitoring",
        "tenant": "tenant-1",
        "provider": "log",
        "action_type": "cpu_alert",
        "payload": {"cpu": 97},
        **extra,
    }
    if fingerprint is not None:
        body["fingerprint"] = fingerprint
    return body
