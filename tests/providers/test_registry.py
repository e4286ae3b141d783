"""The provider registry built from config (config.md §4.6)."""

from __future__ import annotations

import httpx
import pytest

from tidegate.config.providers import (
    EmailProviderSettings,
    LogProviderSettings,
    SlackProviderSettings,
    WebhookProviderSettings,
)
from tidegate.errors import ConfigError
from tidegate.model.action import Action
from tidegate.model.json import JsonValue
from tidegate.model.outcome import ProviderResponse
from tidegate.providers import (
    EmailProvider,
    LogProvider,
    ProviderError,
    ProviderRegistry,
    Registration,
    SlackProvider,
    WebhookProvider,
    build_registry,
)
from tidegate.providers._transport import CheckedTransport

from ._support import FixedResolver, LocalHttpServer, make_action


def identity(value: JsonValue) -> JsonValue:
    return value


def settings_list() -> list[
    LogProviderSettings | WebhookProviderSettings | EmailProviderSettings | SlackProviderSettings
]:
    return [
        LogProviderSettings(name="log", level="debug"),
        WebhookProviderSettings(
            name="hook", url="http://127.0.0.1:1/x", timeout_seconds=2.5, max_concurrent=4
        ),
        EmailProviderSettings.model_validate(
            {"name": "mail", "host": "smtp.example.com", "from": "a@example.com"}
        ),
        SlackProviderSettings(name="slack", webhook_url="https://hooks.slack.com/services/T/B/SECRET"),  # type: ignore[arg-type]
    ]


async def test_builds_every_type_in_order(client: httpx.AsyncClient) -> None:
    registry = build_registry(settings_list(), client, identity)
    assert registry.names() == ["log", "hook", "mail", "slack"]
    assert list(registry) == registry.names() and len(registry) == 4
    assert isinstance(registry.get("log"), LogProvider)
    assert isinstance(registry.get("hook"), WebhookProvider)
    assert isinstance(registry.get("mail"), EmailProvider)
    assert isinstance(registry.get("slack"), SlackProvider)
    assert "hook" in registry and "nope" not in registry
    assert registry.get("nope") is None
    assert (registry.timeout_for("hook"), registry.max_concurrent_for("hook")) == (2.5, 4)
    assert (registry.timeout_for("log"), registry.max_concurrent_for("log")) == (None, None)
    assert (registry.timeout_for("nope"), registry.max_concurrent_for("nope")) == (None, None)
    await registry.close()
    assert not client.is_closed  # the shared client belongs to the caller


async def test_log_provider_uses_the_injected_redactor(
    caplog: pytest.LogCaptureFixture, client: httpx.AsyncClient
) -> None:
    caplog.set_level("INFO", logger="tidegate.providers.log")
    registry = build_registry([LogProviderSettings(name="log")], client, lambda _: "[gone]")
    provider = registry.get("log")
    assert provider is not None
    await provider.execute(make_action({"secret": 1}), 1)
    assert caplog.records[0].getMessage().endswith('payload="[gone]"')


async def test_webhook_gets_revealed_secret_headers_and_label_rules(
    http_server: LocalHttpServer, client: httpx.AsyncClient
) -> None:
    settings = WebhookProviderSettings.model_validate(
        {"name": "hook", "url": http_server.url("/configured"), "headers": {"Authorization": "Bearer tok"}}
    )
    registry = build_registry([settings], client, identity)
    provider = registry.get("hook")
    assert provider is not None
    await provider.execute(make_action(metadata={"webhook_url": http_server.url("/label")}), 1)
    await registry.close()
    (seen,) = http_server.requests
    assert seen.target == "/configured"  # allow_action_url defaults to false with a url
    assert seen.headers["authorization"] == "Bearer tok"


async def test_webhooks_get_checked_clients_the_registry_closes(client: httpx.AsyncClient) -> None:
    settings = [
        WebhookProviderSettings(name="a", url="https://127.0.0.1:1/x"),
        WebhookProviderSettings(name="b", url="https://127.0.0.1:1/y"),
        WebhookProviderSettings(name="insecure", url="https://127.0.0.1:1/z", verify_tls=False),
    ]
    registry = build_registry(settings, client, identity)
    clients = []
    for name in ("a", "b", "insecure"):
        provider = registry.get(name)
        assert isinstance(provider, WebhookProvider)
        clients.append(provider._client)
    assert clients[0] is clients[1]  # verifying webhooks share one pool
    assert clients[2] is not clients[0]
    assert all(c is not client and isinstance(c._transport, CheckedTransport) for c in clients)
    await registry.close()
    assert all(c.is_closed for c in clients) and not client.is_closed


async def test_webhook_clients_refuse_link_local_addresses(client: httpx.AsyncClient) -> None:
    settings = WebhookProviderSettings(name="hook", url="http://metadata.test/latest")
    registry = build_registry(
        [settings], client, identity, resolve=FixedResolver({"metadata.test": ["169.254.169.254"]})
    )
    provider = registry.get("hook")
    assert provider is not None
    with pytest.raises(ProviderError) as caught:
        await provider.execute(make_action(), 1)
    assert caught.value.code == "configuration"
    await registry.close()


def test_email_settings_reach_the_smtp_server(client: httpx.AsyncClient) -> None:
    settings = EmailProviderSettings.model_validate(
        {"name": "mail", "host": "smtp.example.com", "port": 2525, "security": "tls", "username": "u",
         "password": "pw", "from": "Ops <ops@example.com>", "default_to": ["x@example.com"]}
    )  # fmt: skip
    provider = build_registry([settings], client, identity, default_timeout=12.0).get("mail")
    assert isinstance(provider, EmailProvider)
    server = provider._server
    assert (server.host, server.port, server.security, server.username, server.password) == (
        "smtp.example.com", 2525, "tls", "u", "pw"
    )  # fmt: skip
    assert server.timeout_seconds == 12.0
    assert provider._default_to == ("x@example.com",)


class Named:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    async def execute(self, action: Action, attempt: int) -> ProviderResponse:
        return ProviderResponse("success")

    async def close(self) -> None:
        self.closed = True


class Broken(Named):
    async def close(self) -> None:
        raise RuntimeError("cannot close")


def test_duplicate_names_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="duplicate provider name 'a'"):
        ProviderRegistry([Registration(Named("a")), Registration(Named("a"))])


async def test_close_continues_past_a_failing_provider(caplog: pytest.LogCaptureFixture) -> None:
    first, broken, last = Named("a"), Broken("b"), Named("c")
    registry = ProviderRegistry([Registration(first), Registration(broken), Registration(last)])
    await registry.close()
    assert first.closed and last.closed
    assert "closing provider b failed" in caplog.text
