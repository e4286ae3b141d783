"""The provider registry: every configured provider by name, built once at startup (features.md §8).

The registry is fixed for the life of the process; a configuration change needs a restart."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpx

from tidegate.config.providers import (
    EmailProviderSettings,
    LogProviderSettings,
    ProviderSettings,
    SlackProviderSettings,
    WebhookProviderSettings,
)
from tidegate.errors import ConfigError
from tidegate.model.json import JsonValue
from tidegate.providers._destination import Resolver, resolve_host
from tidegate.providers._transport import WebhookClient, new_webhook_client
from tidegate.providers.base import Provider
from tidegate.providers.email import EmailProvider, SmtpServer
from tidegate.providers.log import LogProvider
from tidegate.providers.slack import SlackProvider
from tidegate.providers.webhook import WebhookProvider

__all__ = ["ProviderRegistry", "Registration", "build_registry"]

log = logging.getLogger(__name__)

#: The SMTP socket timeout when neither the provider nor the caller gives one (executor's default).
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Registration:
    """A provider and the limits the executor applies to it (None: the executor's defaults)."""

    provider: Provider
    timeout_seconds: float | None = None
    max_concurrent: int | None = None


class ProviderRegistry:
    """Providers by name. Lookups are plain dict reads (the dispatch hot path calls them)."""

    def __init__(
        self, registrations: Iterable[Registration] = (), owned_clients: Iterable[httpx.AsyncClient] = ()
    ) -> None:
        self._owned_clients = list(owned_clients)
        self._entries: dict[str, Registration] = {}
        for registration in registrations:
            name = registration.provider.name
            if name in self._entries:
                raise ConfigError([f"providers: duplicate provider name '{name}'"])
            self._entries[name] = registration

    def get(self, name: str) -> Provider | None:
        entry = self._entries.get(name)
        return None if entry is None else entry.provider

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> list[str]:
        """Provider names in configuration order."""
        return list(self._entries)

    def timeout_for(self, name: str) -> float | None:
        entry = self._entries.get(name)
        return None if entry is None else entry.timeout_seconds

    def max_concurrent_for(self, name: str) -> int | None:
        entry = self._entries.get(name)
        return None if entry is None else entry.max_concurrent

    async def close(self) -> None:
        """Close every provider, then the clients the registry built; one failure does not stop the rest."""
        for name, entry in self._entries.items():
            try:
                await entry.provider.close()
            except Exception:
                log.exception("closing provider %s failed", name)
        for client in self._owned_clients:
            try:
                await client.aclose()
            except Exception:
                log.exception("closing a webhook client failed")


class _Builder:
    """Builds providers from settings; webhook clients are made on first need, one per TLS mode."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        redact: Callable[[JsonValue], JsonValue],
        default_timeout: float,
        resolve: Resolver,
    ) -> None:
        self._client = client
        self._redact = redact
        self._default_timeout = default_timeout
        self._resolve = resolve
        self.webhook_clients: dict[bool, WebhookClient] = {}

    def build(self, settings: ProviderSettings) -> Provider:
        name = settings.name
        if isinstance(settings, LogProviderSettings):
            return LogProvider(name, self._redact, settings.level)
        if isinstance(settings, WebhookProviderSettings):
            return WebhookProvider(
                name,
                self._webhook_client(settings.verify_tls),
                url=settings.url,
                headers={key: value.get_secret_value() for key, value in settings.headers.items()},
                allow_action_url=settings.allow_action_url,
                allowed_url_prefixes=settings.allowed_url_prefixes,
            )
        if isinstance(settings, EmailProviderSettings):
            server = SmtpServer(
                host=settings.host,
                port=settings.port,
                security=settings.security,
                username=settings.username,
                password=None if settings.password is None else settings.password.get_secret_value(),
                timeout_seconds=settings.timeout_seconds or self._default_timeout,
            )
            return EmailProvider(name, server, settings.from_, settings.default_to)
        if isinstance(settings, SlackProviderSettings):
            return SlackProvider(name, self._client, settings.webhook_url.get_secret_value())
        raise ConfigError([f"providers.{name}.type: unknown provider type"])

    def _webhook_client(self, verify: bool) -> WebhookClient:
        if verify not in self.webhook_clients:
            self.webhook_clients[verify] = new_webhook_client(verify=verify, resolve=self._resolve)
        return self.webhook_clients[verify]


def build_registry(
    provider_settings: Iterable[ProviderSettings],
    http_client: httpx.AsyncClient,
    redact: Callable[[JsonValue], JsonValue],
    *,
    default_timeout: float = DEFAULT_TIMEOUT_SECONDS,
    resolve: Resolver = resolve_host,
) -> ProviderRegistry:
    """Build every configured provider.

    Slack posts through ``http_client`` (the caller owns and closes it). Webhooks need a client whose
    transport checks destination addresses, so the registry builds those (one verifying TLS, one not, as
    configured) and closes them in ``close()``."""
    builder = _Builder(http_client, redact, default_timeout, resolve)
    registrations = [
        Registration(builder.build(settings), settings.timeout_seconds, settings.max_concurrent)
        for settings in provider_settings
    ]
    return ProviderRegistry(registrations, builder.webhook_clients.values())
