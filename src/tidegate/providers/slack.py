"""The ``slack`` provider: post the payload's message members to an incoming webhook (features.md §8.4).

The webhook URL is a secret (it is the credential), so no message or log line ever names it."""

from __future__ import annotations

import re

import httpx
import orjson

from tidegate import __version__
from tidegate.model.action import Action
from tidegate.model.json import JsonObject, dumps
from tidegate.model.outcome import ProviderResponse
from tidegate.providers._http import decode_text, parse_retry_after, post, status_error, transport_error
from tidegate.providers.base import ProviderError

__all__ = ["MESSAGE_MEMBERS", "SlackProvider", "slack_message"]

#: The payload members that make up the posted message, in this order.
MESSAGE_MEMBERS = (
    "text",
    "blocks",
    "attachments",
    "username",
    "icon_emoji",
    "icon_url",
    "thread_ts",
    "unfurl_links",
)
#: Slack answers a failed post with a short token such as ``no_service`` or ``invalid_payload``.
_ERROR_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_SOURCE = "Slack"


def slack_message(payload: object) -> JsonObject:
    """The JSON object to post; ``execution_failed`` (not retryable) without ``text`` or ``blocks``."""
    if not isinstance(payload, dict):
        raise ProviderError(
            "execution_failed", "Slack payload must be an object with text or blocks", retryable=False
        )
    message: JsonObject = {key: payload[key] for key in MESSAGE_MEMBERS if key in payload}
    if message.get("text") in (None, "") and message.get("blocks") in (None, []):
        raise ProviderError("execution_failed", "Slack payload has neither text nor blocks", retryable=False)
    return message


class SlackProvider:
    """Posts to one configured incoming webhook through the shared HTTP client."""

    def __init__(self, name: str, client: httpx.AsyncClient, webhook_url: str) -> None:
        self._name = name
        self._client = client
        self._url: httpx.URL | None
        try:
            self._url = httpx.URL(webhook_url)
        except (httpx.InvalidURL, TypeError, ValueError):
            self._url = None

    @property
    def name(self) -> str:
        return self._name

    async def execute(self, action: Action, attempt: int) -> ProviderResponse:
        if self._url is None or self._url.scheme not in ("http", "https"):
            raise ProviderError("configuration", "invalid Slack webhook URL", retryable=False)
        try:
            body = dumps(slack_message(action.payload))
        except orjson.JSONEncodeError:
            raise ProviderError("serialization", "the Slack message cannot be encoded as JSON") from None
        headers = {"Content-Type": "application/json", "User-Agent": f"tidegate/{__version__}"}
        try:
            reply = await post(self._client, self._url, body, headers)
        except httpx.HTTPError as exc:
            raise transport_error(exc) from None  # the cause could quote the secret URL
        if 200 <= reply.status_code < 300:
            return ProviderResponse("success", {"ok": True}, {})
        retry_after = parse_retry_after(reply.headers.get("retry-after"))
        token = decode_text(reply, 200).strip()
        quotable = reply.status_code != 429 and reply.status_code < 500 and _ERROR_TOKEN.fullmatch(token)
        detail = token if quotable else ""
        raise status_error(reply.status_code, _SOURCE, retry_after, detail)

    async def close(self) -> None:
        return None
