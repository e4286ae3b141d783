"""Providers turn an action into a provider response; the registry holds the configured ones."""

from tidegate.providers._destination import display_url
from tidegate.providers._http import new_http_client
from tidegate.providers._transport import WebhookClient, new_webhook_client
from tidegate.providers.base import ERROR_CODES, ErrorCode, Provider, ProviderError
from tidegate.providers.email import EmailProvider, SmtpServer
from tidegate.providers.log import LogProvider
from tidegate.providers.registry import ProviderRegistry, Registration, build_registry
from tidegate.providers.slack import SlackProvider
from tidegate.providers.webhook import WebhookProvider

__all__ = [
    "ERROR_CODES",
    "EmailProvider",
    "ErrorCode",
    "LogProvider",
    "Provider",
    "ProviderError",
    "ProviderRegistry",
    "Registration",
    "SlackProvider",
    "SmtpServer",
    "WebhookClient",
    "WebhookProvider",
    "build_registry",
    "display_url",
    "new_http_client",
    "new_webhook_client",
]
