"""The effective configuration as printed by ``check-config --show``: every key, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tidegate.config import MASK, Settings, mask_url, render_settings
from tidegate.config.loader import validate_data

SECRETS = {
    "jwt": "jwt-secret-" + "j" * 30,
    "approval": "ab" * 32,
    "api_key": "sk-embedding-key",
    "smtp": "smtp-password",
    "slack": "https://hooks.slack.com/services/T000/B000/XXXX",
    "header": "Bearer header-token",
    "redis": "redis-password",
    "pg": "pg-password",
    "endpoint_token": "endpoint-query-token",
}


def secret_settings() -> Settings:
    data = {
        "state": {"backend": "redis", "url": f"redis://:{SECRETS['redis']}@redis.internal:6379/0"},
        "audit": {
            "backend": "postgres",
            "url": f"postgresql://tidegate:{SECRETS['pg']}@pg.internal/tidegate",
        },
        "auth": {"jwt_secret": SECRETS["jwt"]},
        "approvals": {"keys": [{"kid": "k1", "secret": SECRETS["approval"]}]},
        "embedding": {
            "provider": "openai",
            "api_key": SECRETS["api_key"],
            "endpoint": f"https://llm.example.com/embed?api-key={SECRETS['endpoint_token']}&v=2",
        },
        "providers": [
            {
                "name": "mail",
                "type": "email",
                "host": "smtp",
                "from": "a@b.example",
                "username": "u",
                "password": SECRETS["smtp"],
            },
            {"name": "slack", "type": "slack", "webhook_url": SECRETS["slack"]},
            {
                "name": "hook",
                "type": "webhook",
                "url": "https://hooks.example.com/x",
                "headers": {"Authorization": SECRETS["header"]},
            },
        ],
    }
    settings, issues = validate_data(data, Path("/srv/tidegate"))
    assert settings is not None, issues
    return settings


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_secrets_are_masked(fmt: str) -> None:
    text = render_settings(secret_settings(), "yaml" if fmt == "yaml" else "json")
    for secret in SECRETS.values():
        assert secret not in text
    data = yaml.safe_load(text) if fmt == "yaml" else json.loads(text)
    assert data["auth"]["jwt_secret"] == MASK
    assert data["approvals"]["keys"] == [{"kid": "k1", "secret": MASK}]
    assert data["embedding"]["api_key"] == MASK
    assert data["embedding"]["endpoint"] == f"https://llm.example.com/embed?api-key={MASK}&v=2"
    mail, slack, hook = data["providers"]
    assert (mail["password"], mail["username"], mail["from"]) == (MASK, "u", "a@b.example")
    assert slack["webhook_url"] == MASK
    assert hook["headers"] == {"Authorization": MASK}
    assert hook["url"] == "https://hooks.example.com/x"
    assert data["state"]["url"] == f"redis://:{MASK}@redis.internal:6379/0"
    assert data["stream"]["url"] == f"redis://:{MASK}@redis.internal:6379/0"
    assert data["audit"]["url"] == f"postgresql://tidegate:{MASK}@pg.internal/tidegate"


def test_every_section_is_shown_with_resolved_paths() -> None:
    data = yaml.safe_load(render_settings(Settings.model_validate({}, context=None)))
    assert list(data) == list(Settings.model_fields)
    assert data["server"] == {**data["server"], "host": "127.0.0.1", "port": 8080}
    assert Path(data["state"]["path"]).is_absolute()
    assert data["auth"]["jwt_secret"] is None


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:pw@host:6379/0", f"redis://:{MASK}@host:6379/0"),
        ("postgresql://user:p%40ss@host/db", f"postgresql://user:{MASK}@host/db"),
        ("postgresql://user:p@ss@host/db", f"postgresql://user:{MASK}@host/db"),
        ("https://user@host/path", "https://user@host/path"),
        ("https://host/path?x=a:b@c", "https://host/path?x=a:b@c"),
        ("https://host/v1?api_key=s3cr3t&model=m", f"https://host/v1?api_key={MASK}&model=m"),
        ("https://host/?access_token=t&sig=x#top", f"https://host/?access_token={MASK}&sig={MASK}#top"),
        ("https://u:p@host/?Token=t&flag&key=", f"https://u:{MASK}@host/?Token={MASK}&flag&key="),
        ("postgresql://u@host/db?sslmode=require", "postgresql://u@host/db?sslmode=require"),
        ("not a url", "not a url"),
        ("", ""),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
