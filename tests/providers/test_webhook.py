"""The webhook provider against a real HTTP server on loopback (features.md §8.2)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

import httpcore
import httpx
import pytest

from tidegate import __version__
from tidegate.errors import ConfigError
from tidegate.executor import Executor
from tidegate.model.action import Action
from tidegate.model.outcome import ActionError, ProviderResponse
from tidegate.providers import (
    ProviderError,
    ProviderRegistry,
    Registration,
    WebhookClient,
    WebhookProvider,
    new_webhook_client,
)

from ._support import FixedResolver, LocalHttpServer, Reply, free_port, make_action


@dataclass(frozen=True)
class ExecSettings:
    max_retries: int = 3
    timeout_seconds: float = 5.0
    max_concurrent: int = 100
    backoff_base_ms: int = 100
    backoff_multiplier: float = 2.0
    backoff_max_ms: int = 30_000
    jitter: bool = False


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def executor_for(provider: WebhookProvider, sleep: SleepRecorder, **settings: object) -> Executor:
    registry = ProviderRegistry([Registration(provider)])
    return Executor(registry, ExecSettings(**settings), sleep=sleep)  # type: ignore[arg-type]


class SpyBackend(httpcore.AsyncNetworkBackend):
    """Records connection attempts and refuses them all: proves a refusal happened before any connect."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(  # type: ignore[override]
        self, host: str, port: int, *args: object, **kwargs: object
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        raise httpcore.ConnectError("spy refuses")

    async def sleep(self, seconds: float) -> None:
        return None


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> WebhookClient:
    return WebhookClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)))


async def expect_error(
    provider: WebhookProvider, action: Action | None = None, attempt: int = 1
) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.execute(action or make_action(), attempt)
    return caught.value


# -- success ---------------------------------------------------------------------------------------


async def test_json_reply_is_parsed_and_headers_lowercased_without_set_cookie(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    http_server.script(
        Reply(
            200,
            b'{"sent": true, "id": 7}',
            [("Content-Type", "application/json"), ("Set-Cookie", "sid=abc"), ("X-Request-Id", "r1")],
        )
    )
    provider = WebhookProvider("hook", webhook_client, url=http_server.url())
    response = await provider.execute(make_action(), 1)
    assert response.status == "success"
    assert response.body == {"sent": True, "id": 7}
    assert response.headers is not None
    assert response.headers["x-request-id"] == "r1"
    assert response.headers["content-type"] == "application/json"
    assert "set-cookie" not in response.headers
    assert all(name == name.lower() for name in response.headers)


async def test_non_json_reply_gives_status_code_and_first_4096_characters(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    http_server.script(
        Reply(202, b"accepted", [("Content-Type", "text/plain")]),
        Reply(200, b"x" * 5000, [("Content-Type", "text/plain")]),
        Reply(204, b"", []),
    )
    provider = WebhookProvider("hook", webhook_client, url=http_server.url())
    first = await provider.execute(make_action(), 1)
    assert first.body == {"status_code": 202, "text": "accepted"}
    second = await provider.execute(make_action(), 1)
    assert second.body == {"status_code": 200, "text": "x" * 4096}
    third = await provider.execute(make_action(), 1)
    assert third.body == {"status_code": 204, "text": ""}


async def test_request_is_a_post_of_the_normalized_action_with_default_headers(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    provider = WebhookProvider("ops-hook", webhook_client, url=http_server.url("/in?x=1"))
    action = make_action({"text": "hello"}, metadata={"team": "ops"})
    await provider.execute(action, 3)
    (seen,) = http_server.requests
    assert seen.method == "POST"
    assert seen.target == "/in?x=1"
    expected = action.to_json()
    expected["provider"] = "ops-hook"
    assert json.loads(seen.body) == expected
    assert list(json.loads(seen.body)) == list(expected)  # key order of api.md §3.1
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["user-agent"] == f"tidegate/{__version__}"
    assert seen.headers["x-tidegate-action-id"] == action.id
    assert seen.headers["x-tidegate-attempt"] == "3"
    assert seen.headers["host"] == f"127.0.0.1:{http_server.port}"
    assert "cookie" not in seen.headers


async def test_configured_headers_override_defaults_except_content_type(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    provider = WebhookProvider(
        "hook",
        webhook_client,
        url=http_server.url(),
        headers={
            "user-agent": "custom/1",
            "Content-Type": "text/plain",
            "X-Tidegate-Attempt": "9",
            "Authorization": "Bearer s3cret",
            "Host": "evil.example",
        },
    )
    await provider.execute(make_action(), 1)
    (seen,) = http_server.requests
    names = [name.lower() for name, _ in seen.raw_headers]
    assert names.count("user-agent") == 1 and names.count("content-type") == 1 and names.count("host") == 1
    assert seen.headers["user-agent"] == "custom/1"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-tidegate-attempt"] == "9"
    assert seen.headers["authorization"] == "Bearer s3cret"
    assert seen.headers["host"] == f"127.0.0.1:{http_server.port}"


def test_header_with_line_break_is_a_config_error(webhook_client: WebhookClient) -> None:
    with pytest.raises(ConfigError, match=r"providers\.hook\.headers"):
        WebhookProvider(
            "hook", webhook_client, url="http://127.0.0.1/", headers={"X-A": "v\r\nX-B: injected"}
        )


# -- status mapping and retries (through the executor) ---------------------------------------------


async def test_5xx_is_retried_then_succeeds(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    http_server.script(Reply(503, b"busy"), Reply(502, b"busy"), Reply(200, b'{"ok":true}'))
    sleep = SleepRecorder()
    executor = executor_for(WebhookProvider("hook", webhook_client, url=http_server.url()), sleep)
    result = await executor.execute(make_action(), "hook")
    assert isinstance(result, ProviderResponse) and result.body == {"ok": True}
    assert [r.headers["x-tidegate-attempt"] for r in http_server.requests] == ["1", "2", "3"]
    assert sleep.delays == [0.1, 0.2]


async def test_5xx_on_every_attempt_fails_with_the_attempt_count(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    http_server.default = Reply(500, b"boom")
    executor = executor_for(
        WebhookProvider("hook", webhook_client, url=http_server.url("/x")), SleepRecorder()
    )
    result = await executor.execute(make_action(), "hook", max_retries=2)
    assert result == ActionError("execution_failed", f"HTTP 500 from {http_server.url('/x')}", True, 3)
    assert len(http_server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
async def test_4xx_fails_at_once(
    http_server: LocalHttpServer, webhook_client: WebhookClient, status: int
) -> None:
    http_server.default = Reply(status, b'{"error":"nope"}')
    executor = executor_for(WebhookProvider("hook", webhook_client, url=http_server.url()), SleepRecorder())
    result = await executor.execute(make_action(), "hook")
    assert result == ActionError("execution_failed", f"HTTP {status} from {http_server.url()}", False, 1)
    assert len(http_server.requests) == 1


async def test_redirect_is_not_followed(http_server: LocalHttpServer, webhook_client: WebhookClient) -> None:
    http_server.default = Reply(302, b"", [("Location", http_server.url("/elsewhere"))])
    provider = WebhookProvider("hook", webhook_client, url=http_server.url())
    error = await expect_error(provider)
    assert (error.code, error.retryable) == ("execution_failed", False)
    assert [r.target for r in http_server.requests] == ["/hook"]


async def test_429_is_retried_after_the_retry_after_delay(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    http_server.script(Reply(429, b"slow down", [("Retry-After", "2")]), Reply(200))
    sleep = SleepRecorder()
    executor = executor_for(WebhookProvider("hook", webhook_client, url=http_server.url()), sleep)
    result = await executor.execute(make_action(), "hook")
    assert isinstance(result, ProviderResponse)
    assert sleep.delays == [2.0]
    assert len(http_server.requests) == 2


async def test_429_error_carries_retry_after_and_is_retryable(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    http_server.script(Reply(429, b"", [("Retry-After", "7")]), Reply(429, b"", [("Retry-After", "soon")]))
    provider = WebhookProvider("hook", webhook_client, url=http_server.url())
    first = await expect_error(provider)
    assert (first.code, first.retryable, first.retry_after) == ("rate_limited", True, 7.0)
    assert first.message == f"HTTP 429 from {http_server.url()}"
    second = await expect_error(provider)
    assert (second.code, second.retry_after) == ("rate_limited", None)


async def test_slow_server_times_out_on_each_attempt(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    http_server.default = Reply(200, delay=5.0)
    executor = executor_for(WebhookProvider("hook", webhook_client, url=http_server.url()), SleepRecorder())
    result = await executor.execute(make_action(), "hook", max_retries=1, timeout=0.2)
    assert isinstance(result, ActionError)
    assert (result.code, result.retryable, result.attempts) == ("timeout", True, 2)


async def test_connection_refused(webhook_client: WebhookClient) -> None:
    provider = WebhookProvider("hook", webhook_client, url=f"http://127.0.0.1:{free_port()}/hook")
    error = await expect_error(provider)
    assert (error.code, error.retryable) == ("connection", True)
    assert error.message == "connection error: connection refused"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (httpx.ReadTimeout("read timed out"), "timeout"),
        (httpx.ConnectTimeout("connect timed out"), "timeout"),
        (httpx.RemoteProtocolError("peer closed connection"), "connection"),
        (httpx.ReadError("reset"), "connection"),
    ],
)
async def test_transport_failures_are_classified(exc: httpx.HTTPError, code: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    async with mock_client(handler) as http:
        provider = WebhookProvider("hook", http, url="http://127.0.0.1:9/hook?token=SECRET")
        error = await expect_error(provider)
    assert (error.code, error.retryable) == (code, True)
    assert "SECRET" not in error.message and str(exc) not in error.message


# -- URL selection ---------------------------------------------------------------------------------


async def test_label_is_used_when_allow_action_url_is_on(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    provider = WebhookProvider(
        "hook", webhook_client, url=http_server.url("/configured"), allow_action_url=True
    )
    await provider.execute(make_action(metadata={"webhook_url": http_server.url("/from-label")}), 1)
    await provider.execute(make_action(), 1)
    assert [r.target for r in http_server.requests] == ["/from-label", "/configured"]


async def test_label_is_ignored_by_default_when_url_is_configured(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    provider = WebhookProvider("hook", webhook_client, url=http_server.url("/configured"))
    await provider.execute(make_action(metadata={"webhook_url": http_server.url("/from-label")}), 1)
    assert [r.target for r in http_server.requests] == ["/configured"]


async def test_label_is_used_by_default_without_configured_url(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    provider = WebhookProvider("hook", webhook_client)
    await provider.execute(make_action(metadata={"webhook_url": http_server.url("/from-label")}), 1)
    assert [r.target for r in http_server.requests] == ["/from-label"]


@pytest.mark.parametrize(
    ("allow", "metadata"),
    [(None, {}), (False, {"webhook_url": "http://127.0.0.1:1/x"}), (True, {"webhook_url": ""})],
)
async def test_no_url_is_a_configuration_error(
    webhook_client: WebhookClient, allow: bool | None, metadata: dict[str, str]
) -> None:
    provider = WebhookProvider("hook", webhook_client, allow_action_url=allow)
    error = await expect_error(provider, make_action(metadata=metadata))
    assert (error.code, error.message, error.retryable) == ("configuration", "no URL", False)


# -- URL checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "127.0.0.1/x", "http:///nohost", "http://h:notaport/"]
)
async def test_scheme_must_be_http_or_https(url: str) -> None:
    backend = SpyBackend()
    async with new_webhook_client(backend=backend) as http:
        error = await expect_error(WebhookProvider("hook", http, url=url))
    assert (error.code, error.retryable) == ("configuration", False)
    assert backend.connects == []


async def test_allowed_url_prefixes(http_server: LocalHttpServer, webhook_client: WebhookClient) -> None:
    provider = WebhookProvider("hook", webhook_client, allowed_url_prefixes=[http_server.url("/hooks/")])
    await provider.execute(make_action(metadata={"webhook_url": http_server.url("/hooks/a")}), 1)
    error = await expect_error(provider, make_action(metadata={"webhook_url": http_server.url("/admin")}))
    assert (error.code, error.retryable) == ("configuration", False)
    assert error.message == f"webhook URL is not under an allowed prefix: {http_server.url('/admin')}"
    assert [r.target for r in http_server.requests] == ["/hooks/a"]


async def test_prefixes_also_apply_to_the_configured_url(webhook_client: WebhookClient) -> None:
    provider = WebhookProvider(
        "hook", webhook_client, url="http://127.0.0.1:1/x", allowed_url_prefixes=["https://"]
    )
    error = await expect_error(provider)
    assert error.code == "configuration"


@pytest.mark.parametrize(
    ("url", "table"),
    [
        ("http://169.254.169.254/latest/meta-data/", {"169.254.169.254": ["169.254.169.254"]}),
        ("http://[fe80::1]/x", {"fe80::1": ["fe80::1"]}),
        ("http://metadata.internal/x", {"metadata.internal": ["169.254.169.254"]}),
        ("https://dual.internal/x", {"dual.internal": ["127.0.0.1", "fe80::abcd"]}),
        ("http://mapped.internal/x", {"mapped.internal": ["::ffff:169.254.1.1"]}),
    ],
)
async def test_link_local_addresses_are_refused_without_connecting(
    url: str, table: dict[str, list[str]]
) -> None:
    backend = SpyBackend()
    async with new_webhook_client(resolve=FixedResolver(table), backend=backend) as http:
        error = await expect_error(WebhookProvider("hook", http, url=url))
    assert (error.code, error.retryable) == ("configuration", False)
    assert error.message == f"webhook URL resolves to a link-local address: {url}"
    assert backend.connects == []


async def test_link_local_literal_is_refused_with_the_system_resolver(webhook_client: WebhookClient) -> None:
    provider = WebhookProvider("hook", webhook_client, url="http://169.254.169.254/latest/meta-data/")
    error = await expect_error(provider)
    assert (error.code, error.retryable) == ("configuration", False)


async def test_hostname_is_resolved_and_the_checked_address_is_called(http_server: LocalHttpServer) -> None:
    resolve = FixedResolver({"hooks.example.test": ["127.0.0.1"]})
    async with new_webhook_client(resolve=resolve) as http:
        provider = WebhookProvider("hook", http, url=f"http://hooks.example.test:{http_server.port}/x")
        await provider.execute(make_action(), 1)
        await provider.execute(make_action(), 2)
    assert [r.headers["host"] for r in http_server.requests] == [f"hooks.example.test:{http_server.port}"] * 2
    assert resolve.calls == [
        ("hooks.example.test", http_server.port)
    ]  # the second call reused the connection


async def test_next_checked_address_is_tried_when_one_refuses(http_server: LocalHttpServer) -> None:
    resolve = FixedResolver({"hooks.example.test": ["127.0.0.2", "127.0.0.1"]})
    async with new_webhook_client(resolve=resolve) as http:
        provider = WebhookProvider("hook", http, url=f"http://hooks.example.test:{http_server.port}/x")
        response = await provider.execute(make_action(), 1)
    assert response.status == "success"
    assert len(http_server.requests) == 1


async def test_default_resolver_handles_localhost(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    provider = WebhookProvider("hook", webhook_client, url=f"http://localhost:{http_server.port}/x")
    response = await provider.execute(make_action(), 1)
    assert response.status == "success"
    assert http_server.requests[0].headers["host"] == f"localhost:{http_server.port}"


async def test_dns_failure_is_a_connection_error() -> None:
    async with new_webhook_client(resolve=FixedResolver({})) as http:
        error = await expect_error(WebhookProvider("hook", http, url="http://nowhere.test/x"))
    assert (error.code, error.message, error.retryable) == (
        "connection",
        "connection error: cannot resolve host",
        True,
    )


# -- no secrets in messages ------------------------------------------------------------------------


async def test_error_messages_name_only_scheme_host_and_path(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    http_server.default = Reply(503, b"internal detail: password=hunter2")
    secret_url = f"http://alice:pa55word@127.0.0.1:{http_server.port}/hook?token=SECRET#frag"
    provider = WebhookProvider(
        "hook", webhook_client, url=secret_url, headers={"Authorization": "Bearer HEADERSECRET"}
    )
    executor = executor_for(provider, SleepRecorder())
    result = await executor.execute(make_action(), "hook", max_retries=1)
    assert isinstance(result, ActionError)
    assert result.message == f"HTTP 503 from http://127.0.0.1:{http_server.port}/hook"
    assert http_server.requests[0].target == "/hook?token=SECRET"  # the server still gets the full URL
    for secret in ("alice", "pa55word", "SECRET", "HEADERSECRET", "hunter2", "frag"):
        assert secret not in result.message


async def test_refusals_and_connection_errors_carry_no_secrets(webhook_client: WebhookClient) -> None:
    urls = [
        f"http://bob:pw-SECRET@127.0.0.1:{free_port()}/x?key=SECRET",
        "http://bob:pw-SECRET@169.254.169.254/x?key=SECRET",
        "gopher://bob:pw-SECRET@127.0.0.1/x?key=SECRET",
    ]
    for url in urls:
        provider = WebhookProvider("hook", webhook_client, url=url, headers={"X-Token": "HEADER-SECRET"})
        error = await expect_error(provider)
        assert "SECRET" not in error.message and "bob" not in error.message


async def test_prefix_refusal_shows_no_userinfo_or_query(webhook_client: WebhookClient) -> None:
    provider = WebhookProvider("hook", webhook_client, allowed_url_prefixes=["https://hooks.example.com/"])
    label = "https://hooks.example.com@evil.example/x?token=SECRET"
    error = await expect_error(provider, make_action(metadata={"webhook_url": label}))
    assert error.code == "configuration"
    assert error.message == "webhook URL is not under an allowed prefix: https://evil.example/x"


# -- lifecycle -------------------------------------------------------------------------------------


async def test_concurrent_calls_share_the_client(
    http_server: LocalHttpServer, webhook_client: WebhookClient
) -> None:
    provider = WebhookProvider("hook", webhook_client, url=http_server.url())
    results = await asyncio.gather(*(provider.execute(make_action(), 1) for _ in range(20)))
    assert all(r.status == "success" for r in results)
    assert len(http_server.requests) == 20
