"""features.md §19: an instance without background workers says which features will not fire on it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.api.conftest import make_settings
from tidegate.services import close_services, open_services

GROUP_RULE = """\
rules:
  - name: group-cluster
    priority: 1
    condition: {field: action.action_type, eq: cluster_cpu}
    action: {type: group, group_by: [metadata.cluster], group_wait_seconds: 60, notify_provider: log}
"""


@pytest.mark.parametrize(("enabled", "warned"), [(False, True), (True, False)])
async def test_rules_with_timers_and_no_workers_warn_at_startup(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, enabled: bool, warned: bool
) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "10-group.yaml").write_text(GROUP_RULE)
    settings = make_settings(tmp_path, background={"enabled": enabled})
    with caplog.at_level(logging.WARNING, logger="tidegate.services"):
        services = await open_services(settings, start_workers=False)
        await close_services(services)
    messages = [r.getMessage() for r in caplog.records if r.name == "tidegate.services"]
    assert any("background.enabled is false" in m and "groups" in m for m in messages) is warned


async def test_rules_without_timers_do_not_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, background={"enabled": False})  # the basic rules: suppress, deny
    with caplog.at_level(logging.WARNING, logger="tidegate.services"):
        services = await open_services(settings, start_workers=False)
        await close_services(services)
    assert not [r for r in caplog.records if "background.enabled is false" in r.getMessage()]
