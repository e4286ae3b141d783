"""``GET /v1/audit`` and ``GET /v1/audit/{action_id}`` (api.md §5): filters, paging, bounds, the switch."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.errors import assert_error
from tests.helpers.server import serving
from tidegate.clock import ManualClock

from .conftest import ACTION, make_settings

NS = "audit-ns"


@pytest.fixture(scope="module")
def seeded(server: str, clock: ManualClock) -> list[str]:
    """Five dispatches one minute apart from 14:31 to 14:35 (UTC, 2026-02-07); ids a0 (oldest) .. a4."""
    ids = []
    with httpx.Client(base_url=server) as http:
        for index in range(5):
            clock.advance(60)
            action = {
                **ACTION,
                "id": f"a{index}",
                "namespace": NS,
                "tenant": "acme" if index % 2 == 0 else "globex",
                "action_type": "spam" if index == 3 else "send_email",
            }
            assert http.post("/v1/dispatch", json=action).status_code == 200
            ids.append(f"a{index}")
    return ids


async def _ids(client: httpx.AsyncClient, query: str) -> list[str]:
    response = await client.get(f"/v1/audit?namespace={NS}&{query}")
    assert response.status_code == 200, response.text
    return [record["action_id"] for record in response.json()["records"]]


async def test_lists_newest_first_with_counts(client: httpx.AsyncClient, seeded: list[str]) -> None:
    body = (await client.get(f"/v1/audit?namespace={NS}")).json()
    assert list(body) == ["records", "count", "total", "limit", "offset"]
    assert [r["action_id"] for r in body["records"]] == ["a4", "a3", "a2", "a1", "a0"]
    assert (body["count"], body["total"], body["limit"], body["offset"]) == (5, 5, 50, 0)
    record = body["records"][0]
    assert record["dispatched_at"] == "2026-02-07T14:35:00.000000Z"
    assert (record["namespace"], record["caller_id"], record["verdict"]) == (NS, "anonymous", "allow")


async def test_pages_with_limit_and_offset(client: httpx.AsyncClient, seeded: list[str]) -> None:
    body = (await client.get(f"/v1/audit?namespace={NS}&limit=2&offset=1")).json()
    assert [r["action_id"] for r in body["records"]] == ["a3", "a2"]
    assert (body["count"], body["total"], body["limit"], body["offset"]) == (2, 5, 2, 1)
    past = (await client.get(f"/v1/audit?namespace={NS}&offset=50")).json()
    assert (past["records"], past["count"], past["total"]) == ([], 0, 5)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tenant=acme", ["a4", "a2", "a0"]),
        ("tenant=nobody", []),
        ("provider=log&action_type=spam", ["a3"]),
        ("outcome=suppressed", ["a3"]),
        ("outcome=executed", ["a4", "a2", "a1", "a0"]),
        ("verdict=suppress", ["a3"]),
        ("verdict=allow&tenant=globex", ["a1"]),
        ("matched_rule=block-spam", ["a3"]),
        ("caller_id=anonymous&limit=1", ["a4"]),
        ("chain_id=none", []),
        ("from=2026-02-07T14:32:00Z&to=2026-02-07T14:34:00Z", ["a3", "a2", "a1"]),
        ("from=2026-02-07T16:33:00%2B02:00", ["a4", "a3", "a2"]),
        ("to=2026-02-07T14:31:00.000000Z", ["a0"]),
        ("from=2026-02-07T14:33:00Z&to=2026-02-07T14:33:00Z", ["a2"]),
        ("unknown_param=1&tenant=globex", ["a3", "a1"]),
    ],
)
async def test_filters(client: httpx.AsyncClient, seeded: list[str], query: str, expected: list[str]) -> None:
    assert await _ids(client, query) == expected


async def test_from_after_to_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/audit?from=2026-02-07T15:00:00Z&to=2026-02-07T14:00:00Z")
    assert_error(response, 400, "bad_request", "from is after to")


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("outcome=exploded", ["query", "outcome"]),
        ("outcome=dry_run", ["query", "outcome"]),
        ("verdict=maybe", ["query", "verdict"]),
        ("from=2026-02-07T14:00:00", ["query", "from"]),
        ("to=yesterday", ["query", "to"]),
        ("from=0001-01-01T00:00:00%2B01:00", ["query", "from"]),
        ("limit=0", ["query", "limit"]),
        ("limit=1001", ["query", "limit"]),
        ("limit=ten", ["query", "limit"]),
        ("offset=-1", ["query", "offset"]),
    ],
)
async def test_bad_query_values_are_422(client: httpx.AsyncClient, query: str, loc: list[str]) -> None:
    body = assert_error(await client.get(f"/v1/audit?{query}"), 422, "validation_error")
    assert body["detail"][0]["loc"] == loc


async def test_limit_bounds_are_inclusive(client: httpx.AsyncClient, seeded: list[str]) -> None:
    assert (await client.get("/v1/audit?limit=1")).json()["limit"] == 1
    assert (await client.get("/v1/audit?limit=1000")).json()["limit"] == 1000


async def test_get_returns_the_record(client: httpx.AsyncClient, seeded: list[str]) -> None:
    response = await client.get("/v1/audit/a3")
    assert response.status_code == 200
    record = response.json()
    assert (record["action_id"], record["outcome"], record["outcome_details"]) == (
        "a3",
        "suppressed",
        {"rule": "block-spam"},
    )
    assert list(record)[:2] == ["id", "action_id"]


async def test_get_unknown_is_404(client: httpx.AsyncClient) -> None:
    assert_error(
        await client.get("/v1/audit/never-dispatched"),
        404,
        "not_found",
        "audit record not found: never-dispatched",
    )


@pytest.fixture(scope="module")
def audit_off(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(make_settings(tmp_path_factory.mktemp("audit-off"), audit={"enabled": False})) as url:
        yield url


async def test_audit_disabled_is_404_feature_disabled(audit_off: str) -> None:
    async with httpx.AsyncClient(base_url=audit_off) as http:
        assert (await http.post("/v1/dispatch", json=ACTION)).status_code == 200
        assert_error(await http.get("/v1/audit"), 404, "feature_disabled", "audit is disabled")
        assert_error(await http.get("/v1/audit/x"), 404, "feature_disabled", "audit is disabled")
        assert_error(await http.get("/v1/audit?limit=0"), 422, "validation_error")
