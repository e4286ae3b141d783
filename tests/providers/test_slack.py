"""The Slack provider against a local HTTP server (features.md §8.4)."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from tidegate.model.json import JsonValue
from tidegate.providers import ProviderError, SlackProvider
from tidegate.providers.slack import slack_message

from ._support import LocalHttpServer, Reply, make_action

SECRET_PATH = "/services/T000/B000/XXXXSECRETXXXX"


async def run(provider: SlackProvider, payload: JsonValue) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.execute(make_action(payload), 1)
    return caught.value


async def test_posts_only_the_message_members(
    http_server: LocalHttpServer, client: httpx.AsyncClient
) -> None:
    http_server.default = Reply(200, b"ok", [("Content-Type", "text/html")])
    provider = SlackProvider("slack", client, http_server.url(SECRET_PATH))
    payload: JsonValue = {
        "text": "deploy done",
        "blocks": [{"type": "section"}],
        "attachments": [],
        "username": "bot",
        "icon_emoji": ":ship:",
        "icon_url": "https://x.test/i.png",
        "thread_ts": "123.45",
        "unfurl_links": False,
        "channel": "#ignored",
        "password": "not-sent",
    }
    response = await provider.execute(make_action(payload), 1)
    assert (response.status, response.body, response.headers) == ("success", {"ok": True}, {})
    (seen,) = http_server.requests
    assert (seen.method, seen.target) == ("POST", SECRET_PATH)
    assert seen.headers["content-type"] == "application/json"
    sent = json.loads(seen.body)
    assert list(sent) == [
        "text", "blocks", "attachments", "username", "icon_emoji", "icon_url", "thread_ts", "unfurl_links"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "payload", [{"username": "bot"}, {"text": ""}, {"blocks": []}, "just text", None, [1]]
)
def test_message_needs_text_or_blocks(payload: JsonValue) -> None:
    with pytest.raises(ProviderError) as caught:
        slack_message(payload)
    assert (caught.value.code, caught.value.retryable) == ("execution_failed", False)


async def test_invalid_payload_is_not_posted(http_server: LocalHttpServer, client: httpx.AsyncClient) -> None:
    error = await run(SlackProvider("slack", client, http_server.url(SECRET_PATH)), {"username": "x"})
    assert error.code == "execution_failed"
    assert http_server.requests == []


@pytest.mark.parametrize(
    ("reply", "code", "retryable", "message", "retry_after"),
    [
        (
            Reply(429, b"rate_limited", [("Retry-After", "30")]),
            "rate_limited",
            True,
            "HTTP 429 from Slack",
            30.0,
        ),
        (Reply(500, b"internal_error"), "execution_failed", True, "HTTP 500 from Slack", None),
        (Reply(503, b""), "execution_failed", True, "HTTP 503 from Slack", None),
        (Reply(404, b"no_service"), "execution_failed", False, "HTTP 404 from Slack: no_service", None),
        (
            Reply(400, b"invalid_payload\n"),
            "execution_failed",
            False,
            "HTTP 400 from Slack: invalid_payload",
            None,
        ),
        (Reply(403, b"<html>forbidden</html>"), "execution_failed", False, "HTTP 403 from Slack", None),
        (Reply(410, b"x" * 101), "execution_failed", False, "HTTP 410 from Slack", None),
        (
            Reply(302, b"", [("Location", "/elsewhere")]),
            "execution_failed",
            False,
            "HTTP 302 from Slack",
            None,
        ),
    ],
)
async def test_status_mapping(
    http_server: LocalHttpServer,
    client: httpx.AsyncClient,
    reply: Reply,
    code: str,
    retryable: bool,
    message: str,
    retry_after: float | None,
) -> None:
    http_server.default = reply
    error = await run(SlackProvider("slack", client, http_server.url(SECRET_PATH)), {"text": "hi"})
    assert (error.code, error.retryable, error.message, error.retry_after) == (
        code,
        retryable,
        message,
        retry_after,
    )
    assert len(http_server.requests) == 1


async def test_transport_errors_never_name_the_webhook_url(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = await run(SlackProvider("slack", client, f"http://127.0.0.1:{port}{SECRET_PATH}"), {"text": "hi"})
    assert (error.code, error.retryable) == ("connection", True)
    assert "SECRET" not in error.message and str(port) not in error.message
    assert error.__cause__ is None  # the httpx error (which knows the URL) is not chained


@pytest.mark.parametrize("url", ["not a url", "ftp://hooks.slack.test/x", "http://h:notaport/x"])
async def test_invalid_webhook_url_is_a_configuration_error(client: httpx.AsyncClient, url: str) -> None:
    error = await run(SlackProvider("slack", client, url), {"text": "hi"})
    assert (error.code, error.retryable) == ("configuration", False)
    assert url not in error.message
