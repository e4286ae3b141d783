"""The log provider (features.md §8.1)."""

from __future__ import annotations

import logging

import pytest

from tidegate.errors import ConfigError
from tidegate.model.json import JsonValue
from tidegate.providers import LogProvider

from ._support import make_action


class SpyRedactor:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, value: JsonValue) -> JsonValue:
        self.calls += 1
        if isinstance(value, dict):
            return {k: "[redacted]" if k == "password" else v for k, v in value.items()}
        return value


async def test_logs_one_line_with_ids_and_the_redacted_payload(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tidegate.providers.log")
    provider = LogProvider("audit-log", SpyRedactor())
    action = make_action({"user": "ann", "password": "hunter2"})
    response = await provider.execute(action, 1)
    (record,) = caplog.records
    assert record.name == "tidegate.providers.log"
    assert record.levelno == logging.INFO
    line = record.getMessage()
    for part in (
        action.id,
        "namespace=notifications",
        "tenant=tenant-1",
        "provider=audit-log",
        "action_type=notify",
    ):
        assert part in line
    assert '"password":"[redacted]"' in line and '"user":"ann"' in line
    assert "hunter2" not in line
    assert (record.action_id, record.tenant, record.provider) == (action.id, "tenant-1", "audit-log")  # type: ignore[attr-defined]
    assert response.status == "success"
    assert response.body == {"provider": "audit-log", "logged": True}
    assert response.headers == {}


@pytest.mark.parametrize(("level", "levelno"), [("debug", logging.DEBUG), ("warning", logging.WARNING)])
async def test_configured_level(caplog: pytest.LogCaptureFixture, level: str, levelno: int) -> None:
    caplog.set_level(logging.DEBUG, logger="tidegate.providers.log")
    await LogProvider("l", SpyRedactor(), level).execute(make_action(), 1)
    assert [r.levelno for r in caplog.records] == [levelno]


async def test_disabled_level_skips_redaction_and_formatting(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tidegate.providers.log")
    redact = SpyRedactor()
    response = await LogProvider("l", redact, "info").execute(make_action(), 1)
    assert caplog.records == []
    assert redact.calls == 0
    assert response.body == {"provider": "l", "logged": True}


async def test_null_payload_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tidegate.providers.log")
    action = make_action().replace(payload=None)
    await LogProvider("l", SpyRedactor()).execute(action, 1)
    assert caplog.records[0].getMessage().endswith("payload=null")


def test_unknown_level_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"providers\.l\.level"):
        LogProvider("l", SpyRedactor(), "verbose")
