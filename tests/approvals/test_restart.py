"""A pending approval survives a restart of the real `tidegate serve` process on the embedded SQLite
default (features.md §15): the record, its generated signing key and its link all still work."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.test_serve_process import serve

RULES = """\
rules:
  - name: approve-refunds
    priority: 1
    condition: {field: action.action_type, eq: refund}
    action: {type: request_approval, notify_provider: log, timeout_seconds: 3600}
"""
REFUND = {
    "namespace": "payments",
    "tenant": "acme",
    "provider": "log",
    "action_type": "refund",
    "payload": {},
}


def test_a_pending_approval_can_be_approved_after_a_restart(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "approvals.yaml").write_text(RULES)
    with serve(tmp_path) as url:
        held = httpx.post(f"{url}/v1/dispatch", json=REFUND).json()
        assert held["outcome"] == "pending_approval", held
    link = re.sub(r"^https?://[^/]+", "", held["approve_url"])  # links carry the configured base URL

    with serve(tmp_path) as url:
        status = httpx.get(f"{url}{link.replace('/approve?', '?')}")
        assert status.status_code == 200, status.text
        assert status.json()["status"] == "pending"
        approved = httpx.post(f"{url}{link}")
        assert approved.status_code == 200, approved.text
        assert approved.json()["outcome"]["outcome"] == "executed"
        record = httpx.get(f"{url}/v1/audit/{held['action_id']}").json()
        assert (record["outcome"], record["caller_id"]) == ("executed", "system")
        again = httpx.post(f"{url}{link}")
        assert again.status_code == 409, again.text
