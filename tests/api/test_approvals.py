"""The approval endpoints on a real server (api.md §7): signed links, the confirm page, one decision,
expiry, the list, and the stream events of an approval (stream.md §1.8)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Iterator
from datetime import datetime

import httpx
import orjson
import pytest

from tests.helpers.errors import assert_error
from tests.helpers.server import serving
from tests.stream_http._client import subscribe
from tidegate.clock import ManualClock

from .conftest import make_settings

EXTERNAL = "https://tidegate.example"
SECRET = "00" * 32  # the key of api.md §3.3's test vector
RULES = """\
rules:
  - name: approve-refunds
    priority: 1
    condition: {field: action.action_type, eq: refund}
    action:
      type: request_approval
      notify_provider: log
      timeout_seconds: 600
      message: "Refunds over <b>$1000</b> need a manager & a reason"
  - name: block-spam
    priority: 2
    condition: {field: action.action_type, eq: spam}
    action: {type: suppress}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("approvals")
    (directory / "rules").mkdir()
    (directory / "rules" / "10-approvals.yaml").write_text(RULES)
    settings = make_settings(
        directory,
        server={"external_url": EXTERNAL},
        approvals={"keys": [{"kid": "k1", "secret": SECRET}]},
        background={"poll_interval_seconds": 0.1},
    )
    with serving(settings, clock=clock) as url:
        yield url


def refund(tenant: str = "acme", **extra: object) -> dict[str, object]:
    return {
        "namespace": "payments",
        "tenant": tenant,
        "provider": "log",
        "action_type": "refund",
        "payload": {"amount": 1500},
        **extra,
    }


async def request_approval(client: httpx.AsyncClient, tenant: str = "acme") -> dict[str, str]:
    response = await client.post("/v1/dispatch", json=refund(tenant))
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    assert body["outcome"] == "pending_approval"
    return body


def target(url: str) -> str:
    """The link's path and query on the server under test (links are built on ``external_url``)."""
    assert url.startswith(EXTERNAL + "/v1/approvals/")
    return url[len(EXTERNAL) :]


def tampered(url: str) -> str:
    sig = re.search(r"sig=([0-9a-f]{64})", url)
    assert sig is not None
    flipped = ("1" if sig.group(1)[0] == "0" else "0") + sig.group(1)[1:]
    return url.replace(sig.group(1), flipped)


def status_path(url: str) -> str:
    return re.sub(r"/(approve|reject)\?", "?", target(url))


async def test_dispatch_answers_pending_approval_with_signed_links(client: httpx.AsyncClient) -> None:
    body = await request_approval(client)
    assert list(body) == [
        "action_id",
        "outcome",
        "approval_id",
        "expires_at",
        "approve_url",
        "reject_url",
        "notification_sent",
    ]
    approval_id, expires = body["approval_id"], body["expires_at"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", approval_id)
    assert expires.endswith(".000000Z")  # whole seconds
    unix = int(datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp())
    assert f"&expires_at={unix}&" in body["approve_url"]
    assert re.fullmatch(
        rf"{re.escape(EXTERNAL)}/v1/approvals/payments/acme/{approval_id}/approve"
        r"\?sig=[0-9a-f]{64}&expires_at=\d+&kid=k1",
        body["approve_url"],
    )
    assert body["reject_url"] == body["approve_url"].replace("/approve?", "/reject?")
    assert body["notification_sent"] is True


async def test_the_confirm_page_shows_one_button_that_posts_and_never_decides(
    client: httpx.AsyncClient,
) -> None:
    body = await request_approval(client)
    for word, label in (("approve", "Approve"), ("reject", "Reject")):
        link = target(body[f"{word}_url"])
        page = await client.get(link)
        assert page.status_code == 200, page.text
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["content-security-policy"] == CSP
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        html = page.text
        assert html.count("<form") == 1 and html.count("<button") == 1
        assert re.search(r'<form method="post" action="([^"]*)"', html).group(1) == link.replace(  # type: ignore[union-attr]
            "&", "&amp;"
        )
        assert f'<button type="submit">{label}</button>' in html
        assert "<script" not in html and "http://" not in html and "https://" not in html
        assert "&lt;b&gt;$1000&lt;/b&gt; need a manager &amp; a reason" in html  # escaped
        for shown in ("payments", "acme", "refund", "log", "approve-refunds", body["expires_at"]):
            assert shown in html
    status = await client.get(status_path(body["approve_url"]))
    assert status.json()["status"] == "pending"  # two GETs decided nothing


async def test_approving_executes_once_and_a_second_decision_is_409(client: httpx.AsyncClient) -> None:
    body = await request_approval(client)
    link = target(body["approve_url"])
    answer = await client.post(link)
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    assert list(decision) == ["approval_id", "status", "decided_at", "decided_by", "outcome"]
    assert (decision["approval_id"], decision["status"], decision["decided_by"]) == (
        body["approval_id"],
        "approved",
        "link",
    )
    assert decision["outcome"]["action_id"] == body["action_id"]
    assert decision["outcome"]["outcome"] == "executed"
    for again in (link, target(body["reject_url"])):
        assert_error(await client.post(again), 409, "approval_decided", "approval already decided: approved")
    assert_error(await client.get(again), 409, "approval_decided")  # the confirm page runs every check
    status = (await client.get(status_path(body["approve_url"]))).json()
    assert (status["status"], status["decided_by"]) == ("approved", "link")
    audit = (await client.get(f"/v1/audit/{body['action_id']}")).json()
    assert (audit["outcome"], audit["verdict"], audit["caller_id"]) == ("executed", "allow", "system")


async def test_concurrent_decisions_execute_once_and_the_others_get_409(client: httpx.AsyncClient) -> None:
    body = await request_approval(client)
    executed_before = (await client.get("/metrics")).json()["executed"]
    links = [target(body["approve_url"]), target(body["reject_url"])] * 6
    answers = await asyncio.gather(*(client.post(link) for link in links))
    assert sorted(answer.status_code for answer in answers) == [200] + [409] * 11
    for answer in answers:
        if answer.status_code == 409:
            assert_error(answer, 409, "approval_decided")
    winner = next(answer.json() for answer in answers if answer.status_code == 200)
    executed = (await client.get("/metrics")).json()["executed"] - executed_before
    assert executed == (1 if winner["status"] == "approved" else 0)
    records = (await client.get("/v1/audit", params={"action_type": "refund", "limit": 1000})).json()
    mine = [r for r in records["records"] if r["action_id"] == body["action_id"]]
    assert len(mine) == 2  # the pending_approval record and the one decision's record


async def test_a_tampered_or_missing_signature_is_403_before_any_lookup(client: httpx.AsyncClient) -> None:
    body = await request_approval(client)
    bad = target(tampered(body["approve_url"]))
    unknown = target(body["approve_url"]).replace(body["approval_id"], "00000000-0000-4000-8000-000000000000")
    no_sig = re.sub(r"sig=[0-9a-f]+&", "", target(body["approve_url"]))
    bad_expiry = re.sub(r"expires_at=\d+", "expires_at=soon", target(body["approve_url"]))
    other_kid = target(body["approve_url"]).replace("kid=k1", "kid=k9")
    for link in (bad, unknown, no_sig, bad_expiry, other_kid):
        # An unsigned POST is the anonymous caller's decision while authentication is off (below).
        for method in ("GET",) if link == no_sig else ("GET", "POST"):
            assert_error(await client.request(method, link), 403, "invalid_signature")
        assert_error(await client.get(status_path(EXTERNAL + link)), 403, "invalid_signature")
    moved = target(body["approve_url"]).replace("/acme/", "/acme.eu/")  # the signature covers the scope
    assert_error(await client.post(moved), 403, "invalid_signature")
    status = (await client.get(status_path(body["approve_url"]))).json()
    assert status["status"] == "pending"


async def test_with_auth_off_an_unsigned_post_is_the_anonymous_callers_decision(
    client: httpx.AsyncClient,
) -> None:
    """security.md D18: every request is the anonymous admin, so it decides without the link (api.md §7's
    credentialed decision), through checks 2-5 as any caller; sent credentials are ignored."""
    approved = await request_approval(client, tenant="anon")
    approve = target(approved["approve_url"]).split("?", 1)[0]
    answer = await client.post(approve, headers={"Authorization": "Bearer not.a.token"})
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    assert (decision["status"], decision["decided_by"]) == ("approved", "anonymous")
    assert decision["outcome"]["outcome"] == "executed"
    assert_error(await client.post(approve), 409, "approval_decided", "approval already decided: approved")
    status = (await client.get(status_path(approved["approve_url"]))).json()
    assert (status["status"], status["decided_by"]) == ("approved", "anonymous")

    rejected = await request_approval(client, tenant="anon")
    reject = target(rejected["reject_url"]).split("?", 1)[0]
    assert_error(await client.get(reject), 403, "invalid_signature")  # the confirm page still needs the link
    page = await client.post(  # the empty form post of a browser, answered as a page
        reject,
        headers={"Accept": "text/html", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert page.status_code == 200, page.text
    assert "<h1>Rejected</h1>" in page.text and "anonymous" in page.text
    records = (await client.get("/v1/audit", params={"tenant": "anon", "limit": 10})).json()["records"]
    mine = [r for r in records if r["action_id"] == rejected["action_id"]]
    assert [(r["outcome"], r["caller_id"]) for r in mine] == [
        ("approval_rejected", "anonymous"),
        ("pending_approval", "anonymous"),
    ]
    nobody = "00000000-0000-4000-8000-000000000000"
    unknown = approve.replace(approved["approval_id"], nobody)
    # No signature to check first, so the record check answers.
    assert_error(await client.post(unknown), 404, "not_found", f"approval not found: {nobody}")


async def test_with_auth_off_a_cross_site_unsigned_post_is_refused(client: httpx.AsyncClient) -> None:
    """The anonymous decision is for the dashboard and scripts, not for a form on another site that a
    visitor's browser posts (CSRF): such a request still needs the signed link."""
    pending = await request_approval(client, tenant="csrf")
    approve = target(pending["approve_url"]).split("?", 1)[0]
    host = client.base_url.netloc.decode()
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ):
        assert_error(await client.post(approve, headers=headers), 403, "invalid_signature")
    status = (await client.get(status_path(pending["approve_url"]))).json()
    assert status["status"] == "pending"
    same_origin = {"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}
    answer = await client.post(approve, headers=same_origin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decided_by"] == "anonymous"


async def test_a_valid_signature_for_an_unknown_approval_is_404(client: httpx.AsyncClient) -> None:
    approval_id, expires = "00000000-0000-4000-8000-000000000000", 4102444800
    message = f"8:payments\n4:acme\n36:{approval_id}\n{expires}".encode()
    sig = hmac.new(bytes.fromhex(SECRET), message, hashlib.sha256).hexdigest()
    link = f"/v1/approvals/payments/acme/{approval_id}/approve?sig={sig}&expires_at={expires}"  # no kid
    assert_error(await client.post(link), 404, "not_found", f"approval not found: {approval_id}")


async def test_an_expired_link_is_410_and_the_approval_is_marked_expired(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    body = await request_approval(client, tenant="expiring")
    clock.advance(601)
    try:
        assert_error(
            await client.post(target(body["approve_url"])), 410, "approval_expired", "approval expired"
        )
        assert_error(await client.get(target(body["reject_url"])), 410, "approval_expired")
        status = (await client.get(status_path(body["approve_url"]))).json()  # status view: checks 1-2 only
        assert status["status"] == "expired"
        records = (await client.get("/v1/audit", params={"tenant": "expiring", "limit": 10})).json()[
            "records"
        ]
        assert [r["outcome"] for r in records] == ["approval_expired", "pending_approval"]
    finally:
        clock.advance(-601)


async def test_the_worker_expires_pending_approvals(client: httpx.AsyncClient, clock: ManualClock) -> None:
    body = await request_approval(client, tenant="worker")
    clock.advance(601)
    try:
        async with asyncio.timeout(5):
            while True:
                listed = (
                    await client.get("/v1/approvals", params={"tenant": "worker", "status": "expired"})
                ).json()
                if listed["total"] == 1:
                    break
                await asyncio.sleep(0.05)
        assert listed["approvals"][0]["approval_id"] == body["approval_id"]
        assert (await client.get("/v1/approvals", params={"tenant": "worker"})).json()["total"] == 0
    finally:
        clock.advance(-601)


async def test_rejecting_answers_a_null_outcome(client: httpx.AsyncClient) -> None:
    body = await request_approval(client, tenant="rejects")
    answer = await client.post(target(body["reject_url"]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "rejected" and answer.json()["outcome"] is None
    records = (await client.get("/v1/audit", params={"tenant": "rejects"})).json()["records"]
    assert [r["outcome"] for r in records] == ["approval_rejected", "pending_approval"]


async def test_a_browser_form_post_gets_html_and_html_errors(client: httpx.AsyncClient) -> None:
    body = await request_approval(client)
    browser = {
        "Accept": "text/html,application/xhtml+xml",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    answer = await client.post(target(body["approve_url"]), content=b"", headers=browser)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "Approved" in answer.text and answer.headers["content-security-policy"] == CSP
    again = await client.post(target(body["approve_url"]), content=b"", headers=browser)
    assert again.status_code == 409 and "approval already decided: approved" in again.text
    assert again.headers["content-type"] == "text/html; charset=utf-8"
    forged = await client.get(target(tampered(body["approve_url"])), headers={"Accept": "text/html"})
    assert forged.status_code == 403 and forged.headers["content-type"] == "text/html; charset=utf-8"
    page = await client.get(status_path(body["approve_url"]), headers={"Accept": "text/html"})
    assert page.status_code == 200 and "approved" in page.text


async def test_the_list_filters_by_status_and_tenant(client: httpx.AsyncClient, clock: ManualClock) -> None:
    first = await request_approval(client, tenant="listing")
    clock.advance(1)  # newest first: created_at orders the list
    second = await request_approval(client, tenant="listing")
    await client.post(target(first["reject_url"]))
    listed = (await client.get("/v1/approvals", params={"tenant": "listing"})).json()
    assert list(listed) == ["approvals", "count", "total", "limit", "offset"]
    assert [a["approval_id"] for a in listed["approvals"]] == [second["approval_id"]]  # pending by default
    assert (listed["count"], listed["total"], listed["limit"], listed["offset"]) == (1, 1, 100, 0)
    everything = (await client.get("/v1/approvals", params={"tenant": "listing", "status": "all"})).json()
    assert [a["approval_id"] for a in everything["approvals"]] == [
        second["approval_id"],
        first["approval_id"],
    ]
    item = everything["approvals"][1]
    assert list(item) == [
        "approval_id",
        "namespace",
        "tenant",
        "action_id",
        "action_type",
        "provider",
        "rule",
        "message",
        "status",
        "notification_sent",
        "created_at",
        "expires_at",
        "decided_at",
        "decided_by",
    ]
    assert (item["status"], item["decided_by"], item["rule"]) == ("rejected", "link", "approve-refunds")
    assert "sig" not in str(everything) and "payload" not in str(everything)
    paged = (
        await client.get("/v1/approvals", params={"tenant": "listing", "status": "all", "offset": 1})
    ).json()
    assert [a["approval_id"] for a in paged["approvals"]] == [first["approval_id"]]
    assert_error(await client.get("/v1/approvals", params={"status": "maybe"}), 422, "validation_error")


async def test_the_stream_sees_the_approval_in_order_with_links_redacted(client: httpx.AsyncClient) -> None:
    async with subscribe(client, {"tenant": "streamed"}) as reader:
        body = await request_approval(client, tenant="streamed")
        assert (await client.post(target(body["approve_url"]))).status_code == 200
        frames = await reader.take(4)
    events = [orjson.loads(frame.data) for frame in frames]
    assert [e["type"] for e in events] == [
        "approval_required",
        "action_dispatched",
        "approval_resolved",
        "action_dispatched",
    ]
    required, pending, resolved, executed = events
    assert list(required)[:6] == ["id", "timestamp", "type", "approval_id", "rule", "expires_at"]
    assert (required["approval_id"], required["expires_at"]) == (body["approval_id"], body["expires_at"])
    assert pending["outcome"]["PendingApproval"]["approve_url"] == "[redacted]"
    assert pending["outcome"]["PendingApproval"]["reject_url"] == "[redacted]"
    assert (resolved["approval_id"], resolved["decision"], resolved["action_id"]) == (
        body["approval_id"],
        "approved",
        body["action_id"],
    )
    assert executed["outcome"] == {"Executed": {"status": "success", "body": None, "headers": {}}}
    assert "sig=" not in str(events)
