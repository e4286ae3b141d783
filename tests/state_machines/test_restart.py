"""State machines on the embedded default across a restart of the real ``tidegate serve`` (features.md §14,
§19): an event's state and its armed timeout live in ./data, so a restarted process still knows the event
and fires the timeout that the stopped process armed."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.test_serve_process import serve

AFTER_SECONDS = 1

#: The first process runs no timer loop (``enabled`` false), so only the restarted one can fire the timeout.
CONFIG = """\
[background]
enabled = {enabled}
poll_interval_seconds = 0.2

[[state_machines]]
name = "alert"
initial_state = "firing"
states = ["firing", "acknowledged", "stale", "resolved"]
transitions = [{{ from = "firing", to = "acknowledged" }}]
timeouts = [
  {{ in_state = "firing", after_seconds = {after}, transition_to = "stale" }},
  {{ in_state = "stale", after_seconds = 600, transition_to = "resolved" }},
]
"""


def config(*, timers: bool) -> str:
    return CONFIG.format(enabled=str(timers).lower(), after=AFTER_SECONDS)


RULES = """\
rules:
  - name: alerts
    priority: 1
    condition: {field: action.namespace, eq: monitoring}
    action: {type: state_machine, state_machine: alert}
"""
WHERE = {"namespace": "monitoring", "tenant": "tenant-1"}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "tidegate.toml").write_text(config(timers=False))
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "alerts.yaml").write_text(RULES)
    return tmp_path


def _dispatch(url: str, fingerprint: str, **extra: object) -> None:
    body = {**WHERE, "provider": "log", "action_type": "cpu_alert", "payload": {}, "fingerprint": fingerprint}
    response = httpx.post(f"{url}/v1/dispatch", json={**body, **extra})
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "state_changed"


def _event(url: str, fingerprint: str) -> dict[str, object]:
    response = httpx.get(f"{url}/v1/events/{fingerprint}", params=WHERE)
    assert response.status_code == 200, response.text
    event: dict[str, object] = response.json()
    return event


def test_event_states_and_armed_timeouts_survive_a_restart(workdir: Path) -> None:
    with serve(workdir) as url:
        _dispatch(url, "kept")
        _dispatch(url, "kept", status="acknowledged")
        _dispatch(url, "armed")
        kept, armed = _event(url, "kept"), _event(url, "armed")
    assert (kept["state"], kept["timeout_at"]) == ("acknowledged", None)
    assert armed["state"] == "firing"
    due = datetime.fromisoformat(str(armed["timeout_at"]))
    (workdir / "tidegate.toml").write_text(config(timers=True))
    with serve(workdir) as url:
        assert _event(url, "kept") == kept
        deadline = time.monotonic() + 15
        while (moved := _event(url, "armed"))["state"] != "stale":
            assert time.monotonic() < deadline, moved
            time.sleep(0.1)
        # moved by the timer the first process armed: the second process never dispatched or armed anything
        assert datetime.fromisoformat(str(moved["updated_at"])) >= due
        assert moved["timeout_at"] is not None  # the next state's timeout is armed in turn
        listed = httpx.get(f"{url}/v1/events", params={"status": "stale"}).json()
        assert [event["fingerprint"] for event in listed["events"]] == ["armed"]
