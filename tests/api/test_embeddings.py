"""``POST /v1/embeddings/similarity`` (api.md §10) and ``semantic_match`` routing (rules.md §8) on a real
server with the real local model, plus an OpenAI-compatible provider played by a local endpoint.

Similarity calls are limited to 5 per 60 s per caller (anonymous here); each test starts a fresh window on
the module's ManualClock, so counts and ``Retry-After`` are exact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.embeddings.fake_openai import FakeEndpoint, serving_fake
from tests.helpers.errors import assert_error
from tests.helpers.server import serving
from tidegate.clock import ManualClock

from .auth_support import Identity, auth_settings
from .conftest import ACTION, make_settings

TOPIC = "Infrastructure outage, servers down"
RELATED = "The production database server crashed and the site is offline"
UNRELATED = "Our team lunch is on Friday at the Italian place"
API_KEY = "sk-never-shown-anywhere"
SEMANTIC_RULES = f"""\
rules:
  - name: page-on-outage
    condition:
      all:
        - {{field: action.payload.severity, eq: critical}}
        - semantic_match: "{TOPIC}"
          threshold: 0.3
          text_field: action.payload.description
    action: {{type: reroute, target_provider: pager}}
"""
PROVIDERS = [{"name": "log", "type": "log"}, {"name": "pager", "type": "log"}]


def settings_with_rules(directory: Path, **sections: object) -> object:
    rules = directory / "rules"
    rules.mkdir(parents=True)
    (rules / "10-semantic.yaml").write_text(SEMANTIC_RULES)
    return make_settings(directory, providers=PROVIDERS, **sections)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[str]:
    settings = settings_with_rules(
        tmp_path_factory.mktemp("local"), embedding={"enabled": True, "max_input_chars": 200}
    )
    with serving(settings, clock=clock) as url:  # type: ignore[arg-type]
        yield url


@pytest.fixture(scope="module")
def fake_endpoint() -> Iterator[tuple[str, FakeEndpoint]]:
    with serving_fake() as served:
        yield served


@pytest.fixture(scope="module")
def remote(
    tmp_path_factory: pytest.TempPathFactory, clock: ManualClock, fake_endpoint: tuple[str, FakeEndpoint]
) -> Iterator[str]:
    """The openai provider on the local fake endpoint, failing closed in rules."""
    embedding = {
        "enabled": True,
        "provider": "openai",
        "endpoint": fake_endpoint[0],
        "api_key": API_KEY,
        "timeout_seconds": 2,
        "fail_open": False,
    }
    settings = settings_with_rules(tmp_path_factory.mktemp("remote"), embedding=embedding)
    with serving(settings, clock=clock) as url:  # type: ignore[arg-type]
        yield url


@pytest.fixture(autouse=True)
def fresh_window(clock: ManualClock) -> None:
    start = (int(clock.now().timestamp()) // 60 + 2) * 60
    clock.set(datetime.fromtimestamp(start, UTC))


@pytest.fixture
def fake(fake_endpoint: tuple[str, FakeEndpoint]) -> FakeEndpoint:
    fake_endpoint[1].mode = "ok"
    return fake_endpoint[1]


async def similarity(url: str, text: str, topic: str = TOPIC, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        return await client.post("/v1/embeddings/similarity", json={"text": text, "topic": topic}, **kwargs)  # type: ignore[arg-type]


async def dispatch(url: str, description: str, severity: str = "critical") -> httpx.Response:
    body = {**ACTION, "payload": {"description": description, "severity": severity}}
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        return await client.post("/v1/dispatch", json=body)


# --- the similarity endpoint ------------------------------------------------------------------------------


async def test_related_texts_score_above_unrelated_ones_and_the_topic_is_echoed(local: str) -> None:
    related = await similarity(local, RELATED)
    unrelated = await similarity(local, UNRELATED)
    assert related.status_code == 200, related.text
    assert related.headers["content-type"] == "application/json"
    assert list(related.json()) == ["similarity", "topic"]
    assert related.json()["topic"] == TOPIC
    assert -1 <= unrelated.json()["similarity"] < 0.2 < 0.35 < related.json()["similarity"] <= 1


async def test_the_sixth_request_in_a_minute_gets_429_with_retry_after(
    local: str, clock: ManualClock
) -> None:
    for second in range(5):
        assert (await similarity(local, f"disk full {second}")).status_code == 200
        clock.advance(10)
    refused = await similarity(local, "disk full again")
    assert_error(refused, 429, "rate_limited", retryable=True)
    assert refused.headers["retry-after"] == "10"  # the first request leaves the window at +60 s
    clock.advance(10)
    assert (await similarity(local, "disk full later")).status_code == 200


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"text": "", "topic": TOPIC}, ["body", "text"]),
        ({"text": "x", "topic": ""}, ["body", "topic"]),
        ({"text": "x" * 201, "topic": TOPIC}, ["body", "text"]),  # embedding.max_input_chars is 200
        ({"text": "x", "topic": "t" * 1025}, ["body", "topic"]),
        ({"topic": TOPIC}, ["body", "text"]),
        ({"text": 5, "topic": TOPIC}, ["body", "text"]),
    ],
)
async def test_empty_or_too_long_input_gets_422_and_is_not_counted(
    local: str, body: dict[str, object], loc: list[str]
) -> None:
    async with httpx.AsyncClient(base_url=local, timeout=10.0) as client:
        for _ in range(6):
            response = await client.post("/v1/embeddings/similarity", json=body)
            error = assert_error(response, 422, "validation_error")
            assert error["detail"][0]["loc"] == loc  # type: ignore[index]
    assert (await similarity(local, "x" * 200)).status_code == 200  # the limit counted none of them


async def test_provider_failure_is_500_embedding_failed_without_the_key(
    remote: str, fake: FakeEndpoint
) -> None:
    fake.mode = "error"
    response = await similarity(remote, "servers down")
    assert_error(response, 500, "embedding_failed", retryable=True)
    assert API_KEY not in response.text
    assert "url-secret" not in response.text


async def test_the_openai_provider_serves_the_endpoint(remote: str, fake: FakeEndpoint) -> None:
    response = await similarity(remote, TOPIC)  # the fake gives equal texts equal vectors
    assert response.status_code == 200, response.text
    assert response.json()["similarity"] == pytest.approx(1.0)


# --- semantic_match routing -------------------------------------------------------------------------------


async def test_a_semantic_rule_reroutes_the_matching_action_and_not_the_other(local: str) -> None:
    matching = await dispatch(local, RELATED)
    assert matching.status_code == 200, matching.text
    assert matching.json()["outcome"] == "rerouted"
    assert matching.json()["new_provider"] == "pager"
    other = await dispatch(local, UNRELATED)
    assert other.status_code == 200, other.text
    assert other.json()["outcome"] == "executed"
    low = await dispatch(local, RELATED, severity="low")  # the rule's other condition
    assert low.json()["outcome"] == "executed"


async def test_a_dry_run_reports_the_semantic_verdict(local: str) -> None:
    async with httpx.AsyncClient(base_url=local, timeout=10.0) as client:
        body = {**ACTION, "payload": {"description": RELATED, "severity": "critical"}}
        response = await client.post("/v1/dispatch", json=body, params={"dry_run": "true"})
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "reroute"
    assert response.json()["would_be_provider"] == "pager"


async def test_fail_closed_answers_503_and_records_nothing(remote: str, fake: FakeEndpoint) -> None:
    fake.mode = "error"
    response = await dispatch(remote, "a text no cache holds yet")
    assert_error(response, 503, "backend_unavailable", retryable=True)
    assert API_KEY not in response.text
    async with httpx.AsyncClient(base_url=remote, timeout=10.0) as client:
        audit = (await client.get("/v1/audit", params={"namespace": ACTION["namespace"]})).json()
    assert audit["total"] == 0
    fake.mode = "ok"
    assert (await dispatch(remote, "a text no cache holds yet")).status_code == 200


# --- not configured, permission ---------------------------------------------------------------------------


async def test_without_embeddings_the_route_answers_404_before_any_429(server: str) -> None:
    for _ in range(7):
        assert_error(await similarity(server, "x"), 404, "feature_disabled")


async def test_a_viewer_gets_403(tmp_path: Path) -> None:
    identities = [Identity("viewer", "viewer", key="tg_viewer"), Identity("op", "operator", key="tg_op")]
    with serving(auth_settings(tmp_path, identities, auth={"watch": False})) as url:
        assert_error(await similarity(url, "x", headers={"X-API-Key": "tg_viewer"}), 403, "forbidden")
        assert_error(await similarity(url, "x", headers={"X-API-Key": "tg_op"}), 404, "feature_disabled")
