"""``providers`` (config.md §4.6): a list whose items are told apart by ``type``.

Common keys live on ``_ProviderBase``; each type adds its own, and a key of another type is an unknown key.
``timeout_seconds`` left unset means ``executor.timeout_seconds`` (the executor applies it)."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, SecretStr, model_validator

from tidegate.config._base import ConfigModel, Float, Identifier, Int, Rule, check_http_url

__all__ = [
    "DEFAULT_PROVIDERS",
    "EmailProviderSettings",
    "LogProviderSettings",
    "ProviderSettings",
    "SlackProviderSettings",
    "WebhookProviderSettings",
    "default_providers",
]

# The embedded default (config.md §3); a `providers` list in a file replaces it.
DEFAULT_PROVIDERS: tuple[dict[str, str], ...] = (
    {"name": "log", "type": "log"},
    {"name": "webhook", "type": "webhook"},
)


def _http_url(text: str) -> str:
    return check_http_url(text)


def _slack_url(secret: SecretStr) -> SecretStr:
    check_http_url(secret.get_secret_value(), schemes=("https",))
    return secret


def _address(text: str) -> str:
    _, address = parseaddr(text)
    if "@" not in address:
        raise ValueError("must be an email address")
    return text


Address = Annotated[str, AfterValidator(_address)]


class _ProviderBase(ConfigModel):
    name: Identifier
    type: str  # narrowed to one Literal by each type below
    timeout_seconds: Float | None = Field(None, ge=0.1, le=300)
    max_concurrent: Int | None = Field(None, ge=1)


class LogProviderSettings(_ProviderBase):
    type: Literal["log"] = "log"
    level: Literal["debug", "info", "warning"] = "info"


class WebhookProviderSettings(_ProviderBase):
    type: Literal["webhook"] = "webhook"
    url: Annotated[str, AfterValidator(_http_url)] | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    allow_action_url: bool = True  # default: true without `url`, false with one (set before validation)
    allowed_url_prefixes: list[str] = Field(default_factory=list)
    verify_tls: bool = True

    @model_validator(mode="before")
    @classmethod
    def _action_url_default(cls, data: object) -> object:
        if isinstance(data, dict) and "allow_action_url" not in data:
            return {**data, "allow_action_url": data.get("url") is None}
        return data


class EmailProviderSettings(_ProviderBase):
    model_config = ConfigDict(populate_by_name=True)

    type: Literal["email"] = "email"
    host: Annotated[str, Rule("must be a non-empty string"), Field(min_length=1)]
    port: Int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_: Address = Field(alias="from")
    default_to: list[Address] = Field(default_factory=list)


class SlackProviderSettings(_ProviderBase):
    type: Literal["slack"] = "slack"
    webhook_url: Annotated[SecretStr, AfterValidator(_slack_url)]


ProviderSettings = Annotated[
    LogProviderSettings | WebhookProviderSettings | EmailProviderSettings | SlackProviderSettings,
    Field(discriminator="type"),
]


def default_providers() -> list[ProviderSettings]:
    return [LogProviderSettings(name="log"), WebhookProviderSettings(name="webhook")]
