"""``server`` (config.md §4.1): the HTTP listener, its limits and CORS."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from tidegate.config._base import ConfigModel, Int, Problem, Rule, check_http_url

__all__ = ["CorsSettings", "ServerSettings", "is_loopback_host"]

_DEFAULT_HEADERS = ("Authorization", "Content-Type", "X-API-Key", "Last-Event-ID", "X-Request-ID")


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ``::1`` and ``localhost`` (security.md §10); any other name counts as public."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _external_url(text: str) -> str:
    check_http_url(text, query=False)
    return text.rstrip("/")  # links are built as f"{external_url}/v1/..."


class CorsSettings(ConfigModel):
    allowed_origins: list[str] = Field(default_factory=list)
    allowed_methods: list[str] = Field(default_factory=lambda: ["GET", "POST", "PUT", "DELETE"])
    allowed_headers: list[str] = Field(default_factory=lambda: list(_DEFAULT_HEADERS))
    allow_credentials: bool = False

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> CorsSettings:
        if self.allow_credentials and "*" in self.allowed_origins:
            raise Problem("'*' cannot be combined with allow_credentials = true", ("allowed_origins",))
        return self


class ServerSettings(ConfigModel):
    host: Annotated[str, Rule("must be a non-empty string"), Field(min_length=1)] = "127.0.0.1"
    port: Int = Field(8080, ge=1, le=65535)
    external_url: Annotated[str, AfterValidator(_external_url)] | None = None
    workers: Int = Field(1, ge=1, le=64)
    max_sse_connections_per_tenant: Int = Field(10, ge=0)
    max_body_bytes: Int = Field(1_048_576, ge=1024)
    max_batch_body_bytes: Int = Field(10_485_760, ge=1024)
    batch_concurrency: Int = Field(32, ge=1, le=256)
    max_in_flight_dispatches: Int = Field(5000, ge=1)
    shutdown_timeout_seconds: Int = Field(30, ge=0, le=600)
    cors: CorsSettings = Field(default_factory=CorsSettings)

    @property
    def effective_external_url(self) -> str:
        """``external_url``, else ``http://{host}:{port}`` (127.0.0.1 for a wildcard bind); no trailing /."""
        if self.external_url is not None:
            return self.external_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "[::]") else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)
