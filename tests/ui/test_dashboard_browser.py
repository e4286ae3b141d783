"""The dashboard in headless Chromium against a real server on loopback (issue 9, api.md §14).

Each test opens ``/ui`` in a fresh browser context (fresh session storage) and drives it as a person
would: sign in, watch the feed, filter and pause it, toggle a rule, decide an approval. Actions are sent
with plain HTTP beside the browser, and the results are checked both on the page and through the API.
Console errors fail a test (a CSP refusal would show up there); "Failed to load resource" lines are the
browser reporting expected 4xx answers, such as the 401 of the auth probe."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.api.auth_support import PASSWORD

from .conftest import ARTIFACTS, OPS_KEY, VIEWER_KEY

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Route

TIMEOUT_MS = 20_000  # two shared cores: generous, never a speed assertion
OPS = {"Authorization": f"Bearer {OPS_KEY}"}
CANNED_ID = "019c3882-7c3b-7a10-9f00-3d2c1b0a9e88"
CANNED_STREAM = (
    ": ping\n\n"
    "event: action_dispatched\n"
    f"id: {CANNED_ID}\n"
    f'data: {{"id":"{CANNED_ID}","timestamp":"2026-02-07T14:30:00.123456Z","type":"action_dispatched",'
    '"outcome":{"Failed":{"code":"connection","message":"connection error: connection refused",'
    '"retryable":true,"attempts":4}},"provider":"email","namespace":"alerts","tenant":"acme",'
    '"action_type":"send_email","action_id":"019c3882-7b00-7c21-8d4e-5f6a7b8c9d01"}\n\n'
    "event: lagged\n"
    'data: {"skipped":3}\n\n'
)


def action(
    action_type: str = "send_email", namespace: str = "notifications", **extra: object
) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "tenant": "tenant-1",
        "provider": "log",
        "action_type": action_type,
        "payload": {"to": "user@example.com"},
        **extra,
    }


def dispatch(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{url}/v1/dispatch", json=body, headers=headers or OPS, timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def eventually(check: Callable[[], bool], what: str, page: Page | None = None) -> None:
    """Poll ``check``; with a page, wait through Playwright so its route handlers keep running."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if page is None:
            time.sleep(0.05)
        else:
            page.wait_for_timeout(50)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    created = browser.new_context(viewport={"width": 1440, "height": 1100})
    created.set_default_timeout(TIMEOUT_MS)
    try:
        yield created
    finally:
        created.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    yield opened
    assert problems == []


def sign_in(page: Page, url: str, key: str = OPS_KEY) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/ui")
    expect(page.locator("#auth")).to_be_visible()
    page.get_by_label("API key or token").fill(key)
    page.get_by_role("button", name="Sign in").click()
    wait_live(page)


def wait_live(page: Page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#dashboard")).to_be_visible()
    expect(page.locator("#stream-pill")).to_have_text("stream: live")


# ---- authentication ---------------------------------------------------------------------------------


def test_auth_on_asks_for_a_key_and_keeps_it_in_session_storage_only(
    browser: Browser, context: BrowserContext, page: Page, auth_server: str
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{auth_server}/ui")
    expect(page.locator("#auth")).to_be_visible()
    expect(page.locator("#dashboard")).to_be_hidden()
    page.get_by_label("API key or token").fill("tg_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#auth-error")).to_contain_text("The server rejected this key: invalid API key")
    assert page.evaluate("sessionStorage.length") == 0

    page.get_by_label("API key or token").fill(OPS_KEY)
    page.get_by_role("button", name="Sign in").click()
    wait_live(page)
    assert page.evaluate("sessionStorage.getItem('tidegate.credential')") == OPS_KEY
    assert page.evaluate("localStorage.length") == 0
    assert context.cookies() == []
    assert OPS_KEY not in page.url

    page.reload()  # the same tab keeps its session storage
    wait_live(page)
    expect(page.locator("#auth")).to_be_hidden()

    other = browser.new_context()  # another tab profile does not share it
    try:
        fresh = other.new_page()
        fresh.goto(f"{auth_server}/ui")
        expect(fresh.locator("#auth")).to_be_visible()
    finally:
        other.close()

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#auth")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_revoked_login_token_returns_to_the_prompt(page: Page, auth_server: str) -> None:
    from playwright.sync_api import expect

    login = httpx.post(
        f"{auth_server}/v1/auth/login", json={"username": "root", "password": PASSWORD}, timeout=10
    )
    token = login.json()["token"]
    sign_in(page, auth_server, token)
    assert httpx.post(
        f"{auth_server}/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).is_success
    page.get_by_role("button", name="Reload rule files").click()  # the next protected call gets the 401
    expect(page.locator("#auth")).to_be_visible()
    expect(page.locator("#auth-error")).to_contain_text("token revoked")
    assert page.evaluate("sessionStorage.length") == 0


def test_sign_out_revokes_a_login_token(page: Page, auth_server: str) -> None:
    from playwright.sync_api import expect

    token = httpx.post(
        f"{auth_server}/v1/auth/login", json={"username": "root", "password": PASSWORD}, timeout=10
    ).json()["token"]
    sign_in(page, auth_server, token)
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#auth")).to_be_visible()
    eventually(
        lambda: (
            httpx.get(
                f"{auth_server}/v1/rules", headers={"Authorization": f"Bearer {token}"}, timeout=10
            ).status_code
            == 401
        ),
        "the token to be revoked",
    )


# ---- the live feed and counters -------------------------------------------------------------------


def test_a_dispatched_action_appears_in_the_feed(page: Page, auth_server: str) -> None:
    from playwright.sync_api import expect

    sign_in(page, auth_server)
    executed = dispatch(auth_server, action())
    suppressed = dispatch(auth_server, action("spam"))
    row = page.locator(f'#feed tr[data-action-id="{executed["action_id"]}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("action_dispatched")
    expect(row).to_contain_text("executed")
    expect(row).to_contain_text("tenant-1 / notifications")
    expect(row).to_contain_text("response: success")
    spam = page.locator(f'#feed tr[data-action-id="{suppressed["action_id"]}"]')
    expect(spam).to_contain_text("suppressed")
    expect(spam).to_contain_text("rule block-spam")
    # Newest first.
    expect(page.locator("#feed tr").first).to_have_attribute("data-action-id", suppressed["action_id"])

    counters = httpx.get(f"{auth_server}/metrics", timeout=10).json()
    expect(page.locator("#counter-dispatched .value")).to_have_text(str(counters["dispatched"]))
    expect(page.locator("#counter-suppressed .value")).to_have_text(str(counters["suppressed"]))
    expect(page.locator("#chart rect.bar").first).to_be_attached()  # the outcomes-per-second chart
    expect(page.locator("#chart-summary")).to_contain_text("Peak over the window")
    expect(page.locator("#audit")).to_contain_text("block-spam")  # the audit panel refreshed too


def test_filters_and_pause(page: Page, auth_server: str) -> None:
    from playwright.sync_api import expect

    sign_in(page, auth_server)
    page.get_by_label("Namespace").fill("billing")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"/ui\?namespace=billing$"))
    expect(page.locator("#feed-status")).to_contain_text("Live with filters namespace=billing")
    wait_live(page)
    hidden = dispatch(auth_server, action(namespace="notifications"))
    shown = dispatch(auth_server, action(namespace="billing"))
    expect(page.locator(f'#feed tr[data-action-id="{shown["action_id"]}"]')).to_be_visible()
    expect(page.locator(f'#feed tr[data-action-id="{hidden["action_id"]}"]')).to_have_count(0)

    pause = page.get_by_role("button", name="Pause")
    pause.click()
    expect(page.get_by_role("button", name="Resume")).to_have_attribute("aria-pressed", "true")
    held = dispatch(auth_server, action(namespace="billing"))
    expect(page.locator("#feed-status")).to_contain_text("Paused: 1 new event waiting")
    expect(page.locator("#stream-pill")).to_have_text("stream: paused")
    expect(page.locator(f'#feed tr[data-action-id="{held["action_id"]}"]')).to_have_count(0)
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(f'#feed tr[data-action-id="{held["action_id"]}"]')).to_be_visible()
    expect(page.locator("#stream-pill")).to_have_text("stream: live")

    page.reload()  # the filters live in the URL, so a reload keeps them
    wait_live(page)
    expect(page.get_by_label("Namespace")).to_have_value("billing")
    page.get_by_role("button", name="Clear").click()
    expect(page).to_have_url(re.compile(r"/ui$"))


def test_an_invalid_filter_is_reported_not_retried(page: Page, auth_server: str) -> None:
    from playwright.sync_api import expect

    sign_in(page, auth_server)
    page.get_by_label("Namespace").fill("not an identifier!")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#stream-pill")).to_have_text("stream: refused")
    expect(page.locator("#feed-status")).to_contain_text("invalid_filter")


def test_the_stream_reconnects_with_last_event_id(page: Page, open_server: str) -> None:
    from playwright.sync_api import expect

    seen: list[str | None] = []

    def stream(route: Route) -> None:
        seen.append(route.request.headers.get("last-event-id"))
        if len(seen) == 1:  # the first connection delivers one event and a gap, then ends
            route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=CANNED_STREAM)
        else:
            route.continue_()

    page.route(re.compile(r"/v1/stream(\?|$)"), stream)
    page.goto(f"{open_server}/ui")
    canned = page.locator(f'#feed tr[data-event-id="{CANNED_ID}"]')
    expect(canned).to_contain_text("failed")
    expect(canned).to_contain_text("connection: connection error: connection refused (4 attempts)")
    expect(page.locator("#feed tr.lagged")).to_contain_text("skipped 3 events")
    eventually(lambda: len(seen) >= 2, "the reconnection", page)
    assert seen[:2] == [None, CANNED_ID]
    wait_live(page)
    live = dispatch(open_server, action())
    expect(page.locator(f'#feed tr[data-action-id="{live["action_id"]}"]')).to_be_visible()


def _counters(**values: int) -> str:
    names = ["executed", "deduplicated", "suppressed", "rerouted", "throttled", "failed", "grouped"]
    names += ["state_changed", "pending_approval", "chain_started", "circuit_open"]
    body = {"dispatched": sum(values.get(name, 0) for name in names)}
    body.update({name: values.get(name, 0) for name in names})
    body["dry_run"] = 0
    return httpx.Response(200, json=body).text


def test_counters_and_chart_follow_metrics(page: Page, open_server: str) -> None:
    """Counters as /metrics reports them, the change per second, failures in red, the chart's bars per
    outcome, and a restarted server (counters lower than before) read as a new start, never negative."""
    from playwright.sync_api import expect

    answers = [_counters(executed=10), _counters(executed=12, failed=1), _counters(executed=13, failed=1)]
    served: list[int] = []

    def metrics(route: Route) -> None:
        served.append(1)
        n = len(served)  # then the server restarted: 1, 2, 3, ... executed, one more per poll
        body = answers[n - 1] if n <= len(answers) else _counters(executed=n - len(answers))
        route.fulfill(status=200, content_type="application/json", body=body)

    page.route(re.compile(r"/metrics$"), metrics)
    page.goto(f"{open_server}/ui")
    expect(page.locator("#counter-failed .value")).to_have_text("1")
    expect(page.locator("#counter-failed")).to_have_attribute("data-alarm", "true")
    expect(page.locator("#counter-executed")).to_have_attribute("data-alarm", "false")
    expect(page.locator("#chart rect.oc-failed")).to_have_count(1)
    expect(page.locator("#chart rect.oc-executed").first).to_be_attached()
    expect(page.locator("#counter-failed")).to_have_attribute("data-alarm", "false")  # after the restart
    expect(page.locator("#counter-executed .value")).to_have_text(re.compile(r"^[1-9]$"))
    expect(page.locator("#counter-executed .delta")).to_have_text("+1")  # never negative


# ---- rules ----------------------------------------------------------------------------------------


def _rule_enabled(url: str, name: str) -> bool:
    rules = httpx.get(f"{url}/v1/rules", headers=OPS, timeout=10).json()["rules"]
    return bool(next(rule["enabled"] for rule in rules if rule["name"] == name))


def test_toggle_a_rule(page: Page, auth_server: str) -> None:
    from playwright.sync_api import expect

    sign_in(page, auth_server)
    toggle = page.get_by_label("Enable rule block-spam")
    expect(toggle).to_be_checked()
    expect(page.get_by_label("Enable rule quiet-hours")).not_to_be_checked()
    toggle.uncheck()
    expect(page.locator("#notice")).to_have_text("Rule block-spam disabled.")
    eventually(lambda: not _rule_enabled(auth_server, "block-spam"), "the rule to be disabled")
    assert dispatch(auth_server, action("spam"))["outcome"] == "executed"
    expect(page.locator("#rules-count")).to_contain_text("4 rules, 2 enabled")

    page.get_by_label("Enable rule block-spam").check()
    expect(page.locator("#notice")).to_have_text("Rule block-spam enabled.")
    eventually(lambda: _rule_enabled(auth_server, "block-spam"), "the rule to be enabled again")


def test_a_rule_toggles_from_the_keyboard_and_keeps_the_focus(page: Page, auth_server: str) -> None:
    from playwright.sync_api import expect

    sign_in(page, auth_server)
    toggle = page.get_by_label("Enable rule quiet-hours")
    toggle.focus()
    page.keyboard.press("Space")
    expect(page.locator("#notice")).to_have_text("Rule quiet-hours enabled.")
    expect(page.get_by_label("Enable rule quiet-hours")).to_be_checked()
    expect(page.get_by_label("Enable rule quiet-hours")).to_be_focused()  # the re-rendered row took it back
    page.keyboard.press("Space")
    expect(page.locator("#notice")).to_have_text("Rule quiet-hours disabled.")
    eventually(lambda: not _rule_enabled(auth_server, "quiet-hours"), "the rule to be disabled again")


def test_a_viewer_cannot_toggle_and_is_told_why(page: Page, auth_server: str) -> None:
    from playwright.sync_api import expect

    sign_in(page, auth_server, VIEWER_KEY)
    toggle = page.get_by_label("Enable rule block-spam")
    toggle.click()  # not uncheck(): the page puts the box back, and uncheck() would see no change
    expect(page.locator("#notice")).to_contain_text("role 'viewer' lacks the 'manage' permission")
    expect(toggle).to_be_checked()  # put back as it was
    assert _rule_enabled(auth_server, "block-spam")
    expect(page.locator("#breakers-status")).to_contain_text("cannot see circuit breakers")


# ---- approvals ------------------------------------------------------------------------------------


def _approval(url: str, approval_id: str) -> dict[str, Any]:
    listing = httpx.get(f"{url}/v1/approvals", params={"status": "all"}, headers=OPS, timeout=10).json()
    found: dict[str, Any] = next(a for a in listing["approvals"] if a["approval_id"] == approval_id)
    return found


def test_approve_and_reject_pending_approvals(page: Page, auth_server: str) -> None:
    from playwright.sync_api import expect

    sign_in(page, auth_server)
    first = dispatch(auth_server, action("refund", namespace="payments"))
    second = dispatch(auth_server, action("refund", namespace="payments"))
    assert first["outcome"] == second["outcome"] == "pending_approval"
    row = page.locator(f'#approvals tr[data-approval="{first["approval_id"]}"]')
    expect(row).to_contain_text("refund via log")
    expect(page).to_have_title("(2 pending) Tidegate dashboard")  # what a background tab shows
    expect(row).to_contain_text("approve-refunds: Refund needs approval")

    page.once("dialog", lambda dialog: dialog.dismiss())  # a second thought: nothing happens
    row.get_by_role("button", name=re.compile("^Approve refund")).click()
    assert _approval(auth_server, first["approval_id"])["status"] == "pending"

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile("^Approve refund")).click()
    expect(page.locator("#notice")).to_contain_text("approved by ops, outcome: executed")
    expect(row).to_have_count(0)
    decided = _approval(auth_server, first["approval_id"])
    assert (decided["status"], decided["decided_by"]) == ("approved", "ops")
    executed = page.locator(f'#feed tr[data-action-id="{first["action_id"]}"]').first
    expect(executed).to_contain_text("executed")  # the approved action's execution reached the feed

    other = page.locator(f'#approvals tr[data-approval="{second["approval_id"]}"]')
    page.once("dialog", lambda dialog: dialog.accept())
    other.get_by_role("button", name=re.compile("^Reject refund")).click()
    expect(page.locator("#notice")).to_contain_text("rejected by ops")
    assert _approval(auth_server, second["approval_id"])["status"] == "rejected"
    expect(page).to_have_title("Tidegate dashboard")


def test_approve_and_reject_with_auth_off(page: Page, open_server: str) -> None:
    """Auth off: every request is the anonymous admin (security.md D18), so the buttons decide (api.md §7)."""
    from playwright.sync_api import expect

    page.goto(f"{open_server}/ui")
    wait_live(page)
    first = dispatch(open_server, action("refund", namespace="payments"), headers={})
    second = dispatch(open_server, action("refund", namespace="payments"), headers={})
    expect(page.locator("#approvals-status")).to_contain_text("decisions are recorded as made by anonymous")
    row = page.locator(f'#approvals tr[data-approval="{first["approval_id"]}"]')
    approve = row.get_by_role("button", name=re.compile("^Approve refund"))
    expect(approve).to_be_enabled()
    page.once("dialog", lambda dialog: dialog.accept())
    approve.click()
    expect(page.locator("#notice")).to_contain_text("approved by anonymous, outcome: executed")
    expect(row).to_have_count(0)
    decided = _approval(open_server, first["approval_id"])
    assert (decided["status"], decided["decided_by"]) == ("approved", "anonymous")

    other = page.locator(f'#approvals tr[data-approval="{second["approval_id"]}"]')
    page.once("dialog", lambda dialog: dialog.accept())
    other.get_by_role("button", name=re.compile("^Reject refund")).click()
    expect(page.locator("#notice")).to_contain_text("rejected by anonymous")
    expect(other).to_have_count(0)
    rejected = _approval(open_server, second["approval_id"])
    assert (rejected["status"], rejected["decided_by"]) == ("rejected", "anonymous")


# ---- auth off, panels that depend on the server ---------------------------------------------------


def test_auth_off_needs_no_key(page: Page, open_server: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{open_server}/ui")
    wait_live(page)
    expect(page.locator("#auth")).to_be_hidden()
    expect(page.locator("#session-text")).to_have_text("authentication is off")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    expect(page.locator("#health-pill")).to_have_text("health: ok")
    expect(page.locator("#breakers-status")).to_contain_text("disabled in this server's configuration")
    chains = httpx.get(f"{open_server}/v1/chains", timeout=10)  # whichever this server has (404 or the list)
    if chains.status_code == 404:
        expect(page.locator("#chains-status")).to_contain_text("Chains are unavailable on this server")
    else:
        total = chains.json()["total"]
        expect(page.locator("#chains-count")).to_have_text(re.compile(rf"^{total} known, \d+ running$"))


def test_groups_are_listed_and_can_be_flushed(page: Page, open_server: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{open_server}/ui")
    wait_live(page)
    alert = action("cluster_cpu", namespace="alerts", metadata={"cluster": "c1"})
    first = dispatch(open_server, alert, headers={})
    dispatch(open_server, alert, headers={})
    assert first["outcome"] == "grouped"
    row = page.locator("#groups tr").filter(has_text="metadata.cluster=c1")
    expect(row).to_contain_text("pending")
    expect(row.locator("td").nth(2)).to_have_text("2")
    expect(row).to_contain_text("tenant-1 / alerts")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Flush group {first['group_key']} now").click()
    expect(page.locator("#notice")).to_have_text("Group flushed (2 events).")
    expect(row).to_have_count(0)
    flushed = page.locator("#feed tr").filter(has_text="group_flushed")
    expect(flushed).to_contain_text(f"group …{first['group_id'][-12:]}: 2 flushed")
    assert httpx.get(f"{open_server}/v1/groups/{first['group_key']}", timeout=10).status_code == 404


CHAIN = {
    "chain_id": "019c3882-7e00-7f00-9b00-000000000002",
    "execution_id": "019c3882-7e00-7f00-9b00-000000000002",
    "chain_name": "search-summarize-email",
    "namespace": "research",
    "tenant": "acme",
    "status": "running",
    "current_step": "summarize",
    "current_step_index": 1,
    "total_steps": 3,
    "origin_action_id": "019c3882-7b00-7c21-8d4e-5f6a7b8c9d01",
    "started_at": "2026-02-07T14:30:00.000000Z",
    "updated_at": "2026-02-07T14:30:04.000000Z",
    "completed_at": None,
}


def test_chains_unavailable_is_said_plainly(page: Page, open_server: str) -> None:
    from playwright.sync_api import expect

    page.route(
        re.compile(r"/v1/chains\?"),
        lambda route: route.fulfill(
            status=404,
            content_type="application/json",
            body='{"code":"not_found","message":"Not Found","retryable":false}',
        ),
    )
    page.goto(f"{open_server}/ui")
    expect(page.locator("#chains-status")).to_have_text(
        "Chains are unavailable on this server (GET /v1/chains answered 404)."
    )


def test_chains_are_listed_with_their_status(page: Page, open_server: str) -> None:
    from playwright.sync_api import expect

    cancelled: list[str] = []

    def chains(route: Route) -> None:
        body = {"chains": [CHAIN], "count": 1, "total": 1, "limit": 100, "offset": 0}
        route.fulfill(status=200, content_type="application/json", body=httpx.Response(200, json=body).text)

    def cancel(route: Route) -> None:
        cancelled.append(route.request.post_data or "")
        route.fulfill(status=200, content_type="application/json", body='{"status":"cancelled"}')

    page.route(re.compile(r"/v1/chains\?"), chains)
    page.route(re.compile(r"/v1/chains/[^/]+/cancel$"), cancel)
    page.goto(f"{open_server}/ui")
    row = page.locator("#chains tr").first
    expect(row).to_contain_text("running")
    expect(row).to_contain_text("search-summarize-email")
    expect(row).to_contain_text("2/3 summarize")
    expect(page.locator("#chains-count")).to_have_text("1 known, 1 running")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile("^Cancel chain")).click()
    expect(page.locator("#notice")).to_have_text("Chain cancelled.")
    assert cancelled == ['{"reason":"cancelled from the dashboard"}']


def test_the_theme_follows_the_system_until_chosen(page: Page, open_server: str) -> None:
    from playwright.sync_api import expect

    def background() -> str:
        return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))

    page.emulate_media(color_scheme="light")
    page.goto(f"{open_server}/ui")
    wait_live(page)
    light = background()
    page.emulate_media(color_scheme="dark")
    dark = background()
    assert light != dark
    theme = page.get_by_role("button", name="theme: auto")
    theme.click()  # auto -> dark, whatever the system says
    page.emulate_media(color_scheme="light")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background() == dark
    page.get_by_role("button", name="theme: dark").click()
    assert background() == light
    page.reload()  # kept for the tab
    expect(page.get_by_role("button", name="theme: light")).to_be_visible()
    page.get_by_role("button", name="theme: light").click()
    expect(page.locator("html")).not_to_have_attribute("data-theme", re.compile(".*"))


# ---- circuit breakers -----------------------------------------------------------------------------


def _breaker(url: str, provider: str) -> dict[str, Any]:
    listing = httpx.get(f"{url}/admin/circuit-breakers", headers=OPS, timeout=10).json()
    found: dict[str, Any] = next(b for b in listing["circuit_breakers"] if b["provider"] == provider)
    return found


def test_trip_and_reset_a_circuit_breaker(page: Page, auth_server: str) -> None:
    """Trip and reset with a confirm step; a 403 (the key's role lowered since the page loaded, played by
    sending the viewer's key with the real request) is said plainly and changes nothing."""
    from playwright.sync_api import expect

    questions: list[str] = []

    def answer(accept: bool) -> Callable[[Dialog], None]:
        def handle(dialog: Dialog) -> None:
            questions.append(dialog.message)
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        return handle

    sign_in(page, auth_server)
    row = page.locator('#breakers tr[data-provider="webhook"]')
    try:
        expect(row).to_contain_text("closed")
        expect(row.get_by_role("button", name="Reset circuit breaker webhook")).to_have_count(0)
        trip = row.get_by_role("button", name="Trip circuit breaker webhook")
        page.once("dialog", answer(False))  # a second thought: nothing happens
        trip.click()
        eventually(lambda: len(questions) == 1, "the confirm dialog", page)
        assert "Trip the circuit breaker for webhook?" in questions[0]
        assert "go to its fallback log" in questions[0]
        assert _breaker(auth_server, "webhook")["forced"] is False

        page.once("dialog", answer(True))
        trip.click()
        expect(page.locator("#notice")).to_have_text("Circuit breaker webhook tripped: open until reset.")
        expect(row).to_contain_text("open")
        expect(row).to_contain_text("yes (until reset)")
        expect(row.get_by_role("button", name="Trip circuit breaker webhook")).to_have_count(0)
        assert (_breaker(auth_server, "webhook")["state"], _breaker(auth_server, "webhook")["forced"]) == (
            "open",
            True,
        )

        def as_viewer(route: Route) -> None:
            headers = {**route.request.headers, "authorization": f"Bearer {VIEWER_KEY}"}
            route.fulfill(response=route.fetch(headers=headers))

        page.route(re.compile(r"/admin/circuit-breakers/webhook/reset$"), as_viewer)
        page.once("dialog", answer(True))
        row.get_by_role("button", name="Reset circuit breaker webhook").click()
        expect(page.locator("#notice")).to_contain_text(
            "Not allowed to reset the circuit breaker for webhook: "
            "role 'viewer' lacks the 'manage' permission."
        )
        expect(page.locator("#notice")).to_have_attribute("data-kind", "error")
        assert _breaker(auth_server, "webhook")["forced"] is True
        page.unroute(re.compile(r"/admin/circuit-breakers/webhook/reset$"))

        page.once("dialog", answer(True))
        row.get_by_role("button", name="Reset circuit breaker webhook").click()
        expect(page.locator("#notice")).to_have_text("Circuit breaker webhook reset: closed.")
        expect(row).to_contain_text("closed")
        expect(row.get_by_role("button", name="Reset circuit breaker webhook")).to_have_count(0)
        assert "Reset the circuit breaker for webhook?" in questions[-1]
        after = _breaker(auth_server, "webhook")
        assert (after["state"], after["forced"], after["consecutive_failures"]) == ("closed", False, 0)
    finally:  # the server is shared by the module: leave the breaker closed whatever happened
        httpx.post(f"{auth_server}/admin/circuit-breakers/webhook/reset", headers=OPS, timeout=10)


# ---- the screenshot -------------------------------------------------------------------------------


def test_screenshot_for_people(browser: Browser, page: Page, auth_server: str) -> None:
    """A full page with traffic in every panel, dark and light, in test-artifacts/ (gitignored)."""
    from playwright.sync_api import expect

    page.emulate_media(color_scheme="dark")
    sign_in(page, auth_server)
    for kind in ("send_email", "spam", "send_email", "refund", "send_email"):
        dispatch(auth_server, action(kind, namespace="payments" if kind == "refund" else "notifications"))
        time.sleep(0.3)  # spread over a few samples so the chart shows bars, not one spike
    expect(page.locator("#feed tr")).not_to_have_count(0)
    expect(page.locator("#approvals tr[data-approval]").first).to_be_visible()
    page.wait_for_timeout(1500)
    ARTIFACTS.mkdir(exist_ok=True)
    dark = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(dark), full_page=True)
    light_context = browser.new_context(color_scheme="light", viewport={"width": 1440, "height": 1100})
    try:
        light = light_context.new_page()
        light.goto(f"{auth_server}/ui")
        light.get_by_label("API key or token").fill(OPS_KEY)
        light.get_by_role("button", name="Sign in").click()
        wait_live(light)
        light.wait_for_timeout(1500)
        light.screenshot(path=str(ARTIFACTS / "dashboard-light.png"), full_page=True)
    finally:
        light_context.close()
    assert dark.stat().st_size > 20_000
    assert (ARTIFACTS / "dashboard-light.png").stat().st_size > 20_000
