"""The ``webhook`` provider: POST the normalized action as JSON to a checked URL (features.md §8.2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx
import orjson

from tidegate import __version__
from tidegate.errors import ConfigError
from tidegate.model.action import Action
from tidegate.model.json import JsonObject, JsonValue, dumps, loads
from tidegate.model.outcome import ProviderResponse
from tidegate.providers._destination import check_url, display_url
from tidegate.providers._http import (
    HttpReply,
    decode_text,
    parse_retry_after,
    post,
    status_error,
    transport_error,
)
from tidegate.providers._transport import AddressRefused, WebhookClient
from tidegate.providers.base import ProviderError

__all__ = ["URL_LABEL", "WebhookProvider"]

#: The metadata label that carries a per-action URL (used when ``allow_action_url`` is on).
URL_LABEL = "webhook_url"
#: A non-JSON 2xx body is answered as its first characters, up to this many.
TEXT_LIMIT = 4096
#: Headers the provider owns: Content-Type is fixed by the spec, Host/Content-Length by the transport.
_FIXED_HEADERS = frozenset({"content-type", "host", "content-length", "transfer-encoding"})


class WebhookProvider:
    """POSTs to the action's ``webhook_url`` label (if allowed) or the configured ``url``.

    The URL is checked here (scheme, allowed prefixes); the client's transport checks every address it
    connects to (no link-local destination, see ``_transport``). Redirects are never followed."""

    def __init__(
        self,
        name: str,
        client: WebhookClient,
        *,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        allow_action_url: bool | None = None,
        allowed_url_prefixes: Sequence[str] = (),
    ) -> None:
        self._name = name
        self._client = client
        self._url = url
        self._allow_action_url = url is None if allow_action_url is None else allow_action_url
        self._prefixes = tuple(allowed_url_prefixes)
        self._extra_headers = _checked_headers(name, headers or {})

    @property
    def name(self) -> str:
        return self._name

    async def execute(self, action: Action, attempt: int) -> ProviderResponse:
        url = check_url(self._url_for(action), self._prefixes)
        body = self._body(action)
        try:
            reply = await post(self._client, url, body, self._headers(action, attempt))
        except httpx.HTTPError as exc:
            if isinstance(exc.__cause__, AddressRefused):
                message = f"webhook URL resolves to a link-local address: {display_url(url)}"
                raise ProviderError("configuration", message, retryable=False) from None
            raise transport_error(exc) from exc
        if 200 <= reply.status_code < 300:
            return ProviderResponse("success", _reply_body(reply), _reply_headers(reply.headers))
        retry_after = parse_retry_after(reply.headers.get("retry-after"))
        raise status_error(reply.status_code, display_url(url), retry_after)

    async def close(self) -> None:
        """Nothing to release: the client belongs to whoever built the provider (the registry)."""

    def _url_for(self, action: Action) -> str:
        if self._allow_action_url:
            label = action.metadata.get(URL_LABEL)
            if label:
                return label
        if self._url:
            return self._url
        raise ProviderError("configuration", "no URL", retryable=False)

    def _body(self, action: Action) -> bytes:
        document = action.to_json()
        document["provider"] = self._name
        try:
            return dumps(document)
        except orjson.JSONEncodeError:
            raise ProviderError("serialization", "the action cannot be encoded as JSON") from None

    def _headers(self, action: Action, attempt: int) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"tidegate/{__version__}",
            "X-Tidegate-Action-Id": action.id,
            "X-Tidegate-Attempt": str(attempt),
        }
        for name, value in self._extra_headers.items():
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
            headers[name] = value
        return headers


def _checked_headers(provider: str, headers: Mapping[str, str]) -> dict[str, str]:
    """Configured headers minus the ones the provider owns; CR/LF in a name or value is a config error."""
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if any(c in name or c in value for c in "\r\n\0") or not name.strip():
            raise ConfigError([f"providers.{provider}.headers: invalid header '{name[:64]}'"])
        if name.lower() not in _FIXED_HEADERS:
            checked[name] = value
    return checked


def _reply_body(reply: HttpReply) -> JsonValue:
    if reply.content:
        try:
            return loads(reply.content)
        except orjson.JSONDecodeError:
            pass
    fallback: JsonObject = {"status_code": reply.status_code, "text": decode_text(reply, TEXT_LIMIT)}
    return fallback


def _reply_headers(headers: httpx.Headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name != "set-cookie"}
