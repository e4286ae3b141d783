"""Caller and tenant rate limits on a real server (security.md §9, config.md §4.14, api.md §1.4, §3).

The server counts in SQLite and reads the module's ManualClock; every test starts at the beginning of a
60 s window with both windows empty, so counts, ``Retry-After`` and ``X-RateLimit-*`` values are exact."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.helpers.errors import assert_error
from tests.helpers.server import serving
from tidegate.clock import ManualClock

from .auth_support import Identity, auth_settings
from .conftest import ACTION, make_settings

WILDCARD = [{"tenants": ["*"]}]
IDENTITIES = [
    Identity("busy", "operator", WILDCARD, key="tg_busy"),  # the default caller limit: 3 per 60 s
    Identity("watcher", "viewer", WILDCARD, key="tg_watcher"),
    Identity("vip", "operator", WILDCARD, key="tg_vip"),  # override: 5
    Identity("root", "admin", key="tg_root"),  # override: 1000 (the tenant tests)
    Identity("ops", "operator", WILDCARD, key="tg_ops"),  # override: 1000
    Identity("outsider", "operator", [{"tenants": ["other"]}], key="tg_outsider"),  # override: 1000
]
HIGH = {"requests_per_window": 1000}
RATE_LIMIT = {
    "enabled": True,
    "callers": {
        "requests_per_window": 3,
        "window_seconds": 60,
        "overrides": {"vip": {"requests_per_window": 5}, "root": HIGH, "ops": HIGH, "outsider": HIGH},
    },
    "tenants": {
        "enabled": True,
        "requests_per_window": 2,
        "window_seconds": 60,
        "overrides": {"big": {"requests_per_window": 4}},
    },
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("limited")
    settings = auth_settings(directory, IDENTITIES, auth={"watch": False}, rate_limit=RATE_LIMIT)
    with serving(settings, clock=clock) as url:
        yield url


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[str]:
    """Authentication off: every request is the caller ``anonymous``."""
    settings = make_settings(
        tmp_path_factory.mktemp("anonymous"),
        rate_limit={"enabled": True, "callers": {"requests_per_window": 2}},
    )
    with serving(settings, clock=clock) as url:
        yield url


@pytest.fixture(autouse=True)
def fresh_window(clock: ManualClock) -> None:
    """The start of a window whose predecessor is empty too: no earlier test's counts are in reach."""
    start = (int(clock.now().timestamp()) // 60 + 2) * 60
    clock.set(datetime.fromtimestamp(start, UTC))


@pytest.fixture
async def http(limited: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited, timeout=10.0) as client:
        yield client


def key(name: str) -> dict[str, str]:
    return {"X-API-Key": f"tg_{name}"}


def action(tenant: str, **extra: object) -> dict[str, object]:
    return {**ACTION, "tenant": tenant, **extra}


def limits(response: httpx.Response) -> tuple[str, str, str] | None:
    """``(X-RateLimit-Limit, -Remaining, -Reset)``, or None without them."""
    if "x-ratelimit-limit" not in response.headers:
        assert "x-ratelimit-remaining" not in response.headers
        return None
    headers = response.headers
    return headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"], headers["x-ratelimit-reset"]


async def dispatch(http: httpx.AsyncClient, caller: str, tenant: str, **params: str) -> httpx.Response:
    return await http.post("/v1/dispatch", json=action(tenant), headers=key(caller), params=params)


# --- caller limit ---------------------------------------------------------------------------------------


async def test_past_the_limit_a_caller_gets_429_with_retry_after(
    http: httpx.AsyncClient, clock: ManualClock
) -> None:
    answers = [await http.get("/v1/rules", headers=key("busy")) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert [limits(a) for a in answers] == [
        ("3", "2", "60"),
        ("3", "1", "60"),
        ("3", "0", "60"),
        ("3", "0", "60"),
    ]
    assert_error(answers[3], 429, "rate_limited", retryable=True)
    # 4 counted (the refused one too): in the next window 4 * (60 - e) / 60 + 1 <= 3 from e = 30 s on.
    assert answers[3].headers["retry-after"] == "90"
    clock.advance(89)
    assert (await http.get("/v1/rules", headers=key("watcher"))).status_code == 200  # counted per caller
    clock.advance(1)
    again = await http.get("/v1/rules", headers=key("busy"))
    assert (again.status_code, limits(again)) == (200, ("3", "0", "30"))


async def test_the_window_slides_and_then_resets(http: httpx.AsyncClient, clock: ManualClock) -> None:
    for _ in range(3):
        assert (await http.get("/v1/rules", headers=key("busy"))).status_code == 200
    clock.advance(60)  # the previous window still weighs fully
    assert (await http.get("/v1/rules", headers=key("busy"))).status_code == 429
    clock.advance(120)  # two windows on: nothing counted any more
    fresh = await http.get("/v1/rules", headers=key("busy"))
    assert (fresh.status_code, limits(fresh)) == (200, ("3", "2", "60"))


async def test_a_caller_override_sets_its_own_limit(http: httpx.AsyncClient) -> None:
    answers = [await http.get("/v1/rules", headers=key("vip")) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert limits(answers[0]) == ("5", "4", "60")


async def test_the_limit_comes_after_authentication_and_before_everything_else(
    http: httpx.AsyncClient,
) -> None:
    anonymous = await http.get("/v1/rules")
    assert_error(anonymous, 401, "unauthorized")
    assert limits(anonymous) is None  # nobody to count
    forbidden = [await dispatch(http, "watcher", "acme") for _ in range(3)]  # a viewer may not dispatch
    assert [(a.status_code, limits(a)) for a in forbidden] == [
        (403, ("3", "2", "60")),
        (403, ("3", "1", "60")),
        (403, ("3", "0", "60")),
    ]
    assert_error(await dispatch(http, "watcher", "acme"), 429, "rate_limited", retryable=True)  # not 403
    too_large = await http.post(
        "/v1/dispatch",
        content=b"x" * (1024 * 1024 + 1),
        headers={**key("watcher"), "Content-Type": "application/json"},
    )
    assert_error(too_large, 429, "rate_limited", retryable=True)  # not 413
    bad = await http.post("/v1/dispatch", json={"tenant": "acme"}, headers=key("watcher"))
    assert bad.status_code == 429  # not 422


async def test_every_endpoint_that_needs_credentials_is_limited(http: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await http.get("/v1/audit", headers=key("busy"))).status_code == 200
    assert_error(await http.get("/v1/stream", headers=key("busy")), 429, "rate_limited", retryable=True)
    refused = await http.post("/v1/auth/logout", headers=key("busy"))
    assert (refused.status_code, limits(refused)) == (429, ("3", "0", "60"))


async def test_public_endpoints_are_never_limited(http: httpx.AsyncClient) -> None:
    for _ in range(5):
        for path in ("/health", "/metrics", "/openapi.json"):
            response = await http.get(path, headers=key("busy"))
            assert (response.status_code, limits(response)) == (200, None)
        login = await http.post("/v1/auth/login", json={"username": "nobody", "password": "wrong"})
        assert (login.status_code, limits(login)) == (401, None)
    assert (await http.get("/v1/rules", headers=key("busy"))).status_code == 200  # nothing was counted


async def test_anonymous_callers_share_one_bucket(anonymous: str) -> None:
    async with httpx.AsyncClient(base_url=anonymous, timeout=10.0) as client:
        first = await client.get("/v1/rules")
        second = await client.get("/v1/rules", headers=key("busy"))  # credentials are ignored (D18)
        third = await client.post("/v1/dispatch", json=ACTION)
    assert [limits(a) for a in (first, second)] == [("2", "1", "60"), ("2", "0", "60")]
    assert_error(third, 429, "rate_limited", retryable=True)


async def test_no_headers_when_rate_limiting_is_off(client: httpx.AsyncClient) -> None:
    """The embedded default (``rate_limit.enabled = false``)."""
    for _ in range(5):
        response = await client.post("/v1/dispatch", json=ACTION)
        assert (response.status_code, limits(response)) == (200, None)


# --- tenant limit ---------------------------------------------------------------------------------------


async def test_the_tenant_limit_counts_the_dispatches_of_every_caller(http: httpx.AsyncClient) -> None:
    assert [(await dispatch(http, caller, "acme")).status_code for caller in ("root", "ops")] == [200, 200]
    refused = await dispatch(http, "root", "acme")
    assert_error(refused, 429, "rate_limited", retryable=True)
    assert refused.headers["retry-after"] == "100"  # 3 counted: 3 * (60 - e) / 60 + 1 <= 2 from e = 40 s
    assert limits(refused) == ("2", "0", "60")  # the headers of a 429 describe the limit that refused it
    other = await dispatch(http, "root", "acme.eu")  # per exact tenant
    assert (other.status_code, limits(other)) == (200, ("1000", "997", "60"))  # the caller's limit


async def test_a_tenant_override_sets_its_own_limit(http: httpx.AsyncClient) -> None:
    answers = [await dispatch(http, "root", "big") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 4 + [429]


async def test_dry_runs_are_neither_limited_nor_counted(http: httpx.AsyncClient) -> None:
    for _ in range(3):
        dry = await dispatch(http, "root", "acme", dry_run="true")
        assert (dry.status_code, dry.json()["outcome"]) == (200, "dry_run")
    assert [(await dispatch(http, "root", "acme")).status_code for _ in range(3)] == [200, 200, 429]
    assert (await dispatch(http, "root", "acme", dry_run="true")).status_code == 200


async def test_a_refused_dispatch_does_not_count_against_the_tenant(http: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await dispatch(http, "outsider", "acme")).status_code == 403  # G1 comes first
        invalid = await http.post("/v1/dispatch", json=action("acme", provider=""), headers=key("root"))
        assert invalid.status_code == 422
    assert [(await dispatch(http, "root", "acme")).status_code for _ in range(3)] == [200, 200, 429]


async def test_each_batch_item_counts_once(http: httpx.AsyncClient) -> None:
    items = [action("acme"), action("acme.eu"), action("acme"), action("acme")]
    response = await http.post("/v1/dispatch/batch", json={"actions": items}, headers=key("root"))
    assert response.status_code == 200
    assert limits(response) == ("1000", "999", "60")  # one request for the caller limit
    results = response.json()["results"]
    assert results[1]["status"] == "success"
    acme = [results[i] for i in (0, 2, 3)]
    assert sorted(r["status"] for r in acme) == ["error", "success", "success"]
    (error,) = (r["error"] for r in acme if r["status"] == "error")
    assert (error["code"], error["retryable"]) == ("rate_limited", True)
    assert (await dispatch(http, "root", "acme")).status_code == 429
    assert (await dispatch(http, "root", "acme.eu")).status_code == 200  # its batch item counted once
    dry = await http.post("/v1/dispatch/batch", json=items, headers=key("root"), params={"dry_run": "true"})
    assert [r["status"] for r in dry.json()["results"]] == ["success"] * 4


async def test_the_dispatch_stream_is_limited_per_tenant(http: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert (await dispatch(http, "root", "acme")).status_code == 200
    refused = await http.post("/v1/dispatch/stream", json=action("acme"), headers=key("root"))
    assert_error(refused, 429, "rate_limited", retryable=True)
    assert limits(refused) == ("2", "0", "60")
