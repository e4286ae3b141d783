"""``GET /v1/rules``, ``POST /v1/rules/reload`` and ``PUT /v1/rules/{name}/enabled`` (api.md §4)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers.errors import assert_error

from .conftest import ACTION

EXTRA_RULE = """\
rules:
  - name: block-promo
    priority: 20
    condition: {field: action.action_type, eq: promo}
    action: {type: suppress}
"""


async def test_lists_rules_in_evaluation_order(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/rules")
    assert response.status_code == 200
    rules = response.json()["rules"]
    assert [r["name"] for r in rules[:2]] == ["block-spam", "quiet-hours"]
    assert rules[0] == {
        "name": "block-spam",
        "priority": 1,
        "enabled": True,
        "description": "Block spam actions",
        "action": "suppress",
        "source": "10-basic.yaml",
    }
    assert rules[1]["enabled"] is False


async def test_toggle_changes_the_effective_rule(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/rules/block-spam/enabled", json={"enabled": False})
    assert response.json() == {"name": "block-spam", "enabled": False}
    try:
        listed = {r["name"]: r["enabled"] for r in (await client.get("/v1/rules")).json()["rules"]}
        assert listed["block-spam"] is False
        outcome = (await client.post("/v1/dispatch", json={**ACTION, "action_type": "spam"})).json()[
            "outcome"
        ]
        assert outcome == "executed"
    finally:
        await client.put("/v1/rules/block-spam/enabled", json={"enabled": True})
    outcome = (await client.post("/v1/dispatch", json={**ACTION, "action_type": "spam"})).json()["outcome"]
    assert outcome == "suppressed"


async def test_toggle_is_idempotent(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        response = await client.put("/v1/rules/quiet-hours/enabled", json={"enabled": False})
        assert response.json() == {"name": "quiet-hours", "enabled": False}


async def test_unknown_rule_is_404(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/rules/nope/enabled", json={"enabled": True})
    assert_error(response, 404, "not_found", "rule not found: nope")


@pytest.mark.parametrize("value", ["false", 0, 1, None, "true"])
async def test_enabled_must_be_a_json_boolean(client: httpx.AsyncClient, value: object) -> None:
    response = await client.put("/v1/rules/block-spam/enabled", json={"enabled": value})
    body = assert_error(response, 422, "validation_error")
    assert body["detail"][0]["loc"] == ["body", "enabled"]


async def test_enabled_body_errors(client: httpx.AsyncClient) -> None:
    assert_error(await client.put("/v1/rules/block-spam/enabled", json={}), 422, "validation_error")
    assert_error(
        await client.put(
            "/v1/rules/block-spam/enabled", content=b"{", headers={"content-type": "application/json"}
        ),
        400,
        "invalid_json",
    )
    assert_error(
        await client.put("/v1/rules/block-spam/enabled", content=b"{}"), 415, "unsupported_media_type"
    )


async def test_reload_reports_the_new_set_and_keeps_toggles(
    client: httpx.AsyncClient, server_dir: Path
) -> None:
    extra = server_dir / "rules" / "20-extra.yaml"
    await client.put("/v1/rules/quiet-hours/enabled", json={"enabled": True})
    extra.write_text(EXTRA_RULE)
    try:
        response = await client.post(
            "/v1/rules/reload", content=b"ignored", headers={"content-type": "text/plain"}
        )
        assert response.json() == {"loaded": 3, "errors": [], "applied": True}
        listed = {r["name"]: r["enabled"] for r in (await client.get("/v1/rules")).json()["rules"]}
        assert listed == {"block-spam": True, "quiet-hours": True, "block-promo": True}
    finally:
        extra.unlink()
        await client.put("/v1/rules/quiet-hours/enabled", json={"enabled": False})
        await client.post("/v1/rules/reload")


async def test_reload_with_an_invalid_file_keeps_the_previous_set(
    client: httpx.AsyncClient, server_dir: Path
) -> None:
    bad = server_dir / "rules" / "30-bad.yaml"
    bad.write_text("rules: [ {name: x\n")
    try:
        body = (await client.post("/v1/rules/reload")).json()
        assert (body["loaded"], body["applied"]) == (0, False)
        assert [e["file"] for e in body["errors"]] == ["30-bad.yaml"]
        assert [r["name"] for r in (await client.get("/v1/rules")).json()["rules"]] == [
            "block-spam",
            "quiet-hours",
        ]
    finally:
        bad.unlink()
        await client.post("/v1/rules/reload")
