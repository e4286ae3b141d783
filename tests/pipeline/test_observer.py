"""``Gateway.dispatch(observer=...)``: the decision, then each attempt, in pipeline order (stream.md §3.4)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tidegate.errors import BackendUnavailable, ProviderNotFound
from tidegate.model.caller import ANONYMOUS
from tidegate.model.verdict import Verdict
from tidegate.providers.base import ProviderError

from .test_gateway import RULES, action, harness


@dataclass
class Heard:
    """Records what the gateway tells an observer, and what had been recorded when it was told."""

    calls: list[tuple[object, ...]] = field(default_factory=list)

    def on_decided(self, verdict: Verdict, priority: int | None) -> None:
        self.calls.append(("decided", verdict.kind.value, verdict.matched_rule, priority))

    async def on_attempt_start(self, provider: str, attempt: int) -> None:
        self.calls.append(("start", provider, attempt))

    async def on_attempt_end(
        self, provider: str, attempt: int, error: ProviderError | None, retry_in: float | None
    ) -> None:
        self.calls.append(("end", provider, attempt, error.code if error else None, retry_in is not None))


@pytest.mark.parametrize(
    ("overrides", "decided", "attempts"),
    [
        (
            {"provider": "log"},
            ("decided", "allow", None, None),
            [("start", "log", 1), ("end", "log", 1, None, False)],
        ),
        ({"action_type": "spam"}, ("decided", "suppress", "block-spam", 1), []),
        ({"namespace": "prod"}, ("decided", "deny", "deny-prod", 2), []),
        (
            {"action_type": "page"},
            ("decided", "reroute", "to-sms", 3),
            [("start", "sms", 1), ("end", "sms", 1, None, False)],
        ),
        ({}, ("decided", "modify", "tag", -5), [("start", "email", 1), ("end", "email", 1, None, False)]),
    ],
)
async def test_decision_comes_first_then_each_attempt(
    overrides: dict[str, object], decided: tuple[object, ...], attempts: list[tuple[object, ...]]
) -> None:
    h = await harness(RULES)
    heard = Heard()
    await h.gateway.dispatch(action(**overrides), ANONYMOUS, observer=heard)
    assert heard.calls == [decided, *attempts]


async def test_retries_are_heard_as_they_happen() -> None:
    h = await harness()
    h.providers["email"].script = [ProviderError("connection", "refused"), ProviderError("timeout", "slow")]
    heard = Heard()
    result = await h.gateway.dispatch(action(), ANONYMOUS, observer=heard)
    assert result.outcome.category == "failed"
    assert heard.calls == [
        ("decided", "allow", None, None),
        ("start", "email", 1),
        ("end", "email", 1, "connection", True),
        ("start", "email", 2),
        ("end", "email", 2, "timeout", True),
        ("start", "email", 3),
        ("end", "email", 3, "timeout", False),
    ]


async def test_dry_run_is_decided_and_never_attempted() -> None:
    h = await harness(RULES)
    heard = Heard()
    await h.gateway.dispatch(action(action_type="spam"), ANONYMOUS, dry_run=True, observer=heard)
    assert heard.calls == [("decided", "suppress", "block-spam", 1)]


async def test_a_failed_provider_check_is_never_decided() -> None:
    h = await harness(RULES)
    heard = Heard()
    with pytest.raises(ProviderNotFound):
        await h.gateway.dispatch(action(provider="fax"), ANONYMOUS, observer=heard)
    assert heard.calls == []


async def test_an_audit_store_known_to_fail_is_refused_before_the_decision() -> None:
    """``ensure_ready`` answers 503 with nothing executed: a stream must not have started by then."""
    h = await harness()

    async def down() -> None:
        raise BackendUnavailable("audit store unreachable")

    h.gateway._recorder._audit_suspect = True  # as after a failed write
    h.audit.ping = down  # type: ignore[method-assign]
    heard = Heard()
    with pytest.raises(BackendUnavailable):
        await h.gateway.dispatch(action(), ANONYMOUS, observer=heard)
    assert heard.calls == []
