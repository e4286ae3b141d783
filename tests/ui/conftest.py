"""Servers and a headless browser for the dashboard tests (api.md §14, issue 9).

The browser is the system Chromium (Debian package ``chromium``) driven by Playwright for Python; no
browser is downloaded. ``make test`` installs the package when it can. Without a browser the browser tests
skip with the reason, except under CI=true, where a missing browser is a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.api.auth_support import Identity, auth_settings
from tests.api.conftest import make_settings
from tests.helpers.server import serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path(os.environ.get("TIDEGATE_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

RULES = """\
rules:
  - name: block-spam
    priority: 1
    description: Block spam actions
    condition: {field: action.action_type, eq: spam}
    action: {type: suppress}
  - name: approve-refunds
    priority: 2
    description: Refunds need a person
    condition: {field: action.action_type, eq: refund}
    action:
      {type: request_approval, notify_provider: log, message: Refund needs approval, timeout_seconds: 3600}
  - name: group-cluster-alerts
    priority: 3
    condition: {field: action.action_type, eq: cluster_cpu}
    action: {type: group, group_by: [metadata.cluster], group_wait_seconds: 3600, notify_provider: log}
  - name: quiet-hours
    priority: 5
    enabled: false
    condition: {field: action.action_type, eq: quiet}
    action: {type: deny}
"""

OPS_KEY = "tg_ops-dashboard-key"  # operator, every tenant
VIEWER_KEY = "tg_viewer-dashboard-key"
IDENTITIES = [
    Identity("ops", "operator", grants=[{"tenants": ["*"]}], key=OPS_KEY),
    Identity("watch", "viewer", grants=[{"tenants": ["*"]}], key=VIEWER_KEY),
    Identity("root", "admin"),
]
APPROVAL_KEYS = {"keys": [{"kid": "k1", "secret": "22" * 32}]}
# The tests trip only webhook's breaker, which no other test dispatches to.
BREAKERS = {"enabled": True, "providers": {"webhook": {"fallback_provider": "log"}}}


def _is_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.is_file():
        return f"no browser at {CHROMIUM} (make test installs the Debian package chromium when run as root)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = _missing_browser()
    if reason is not None:
        if _is_ci():
            pytest.fail(f"CI is set, so the browser tests must run: {reason}")
        pytest.skip(f"{reason} (set CI=true to make this a failure)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            launched.close()


def _write_rules(directory: Path) -> None:
    (directory / "rules").mkdir(parents=True, exist_ok=True)
    (directory / "rules" / "10-dashboard.yaml").write_text(RULES)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with authentication on, approvals signed, circuit breakers on, and the rules above."""
    directory = tmp_path_factory.mktemp("ui-auth")
    _write_rules(directory)
    settings = auth_settings(
        directory, IDENTITIES, auth={"watch": False}, approvals=APPROVAL_KEYS, circuit_breaker=BREAKERS
    )
    with serving(settings) as url:
        yield url


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with authentication off (the embedded default) and the rules above."""
    directory = tmp_path_factory.mktemp("ui-open")
    _write_rules(directory)
    with serving(make_settings(directory, approvals=APPROVAL_KEYS)) as url:
        yield url
