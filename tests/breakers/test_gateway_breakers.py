"""Breakers around the Gateway's executions (features.md §10): scripted providers, a manual clock."""

from __future__ import annotations

from tests.pipeline.test_gateway import Harness, action, harness
from tidegate.config import CircuitBreakerSettings
from tidegate.model.caller import ANONYMOUS
from tidegate.model.outcome import CircuitOpen, Executed, Failed, ProviderResponse, Rerouted
from tidegate.providers.base import ProviderError

DOWN = ProviderError("connection", "connection error: refused", retryable=True)
OK = ProviderResponse("success", {"ok": "email"}, {})


def settings(**email: object) -> CircuitBreakerSettings:
    return CircuitBreakerSettings.model_validate(
        {
            "enabled": True,
            "failure_threshold": 2,
            "success_threshold": 2,
            "recovery_timeout_seconds": 60,
            "probe_timeout_seconds": 30,
            "providers": {"email": email},
        }
    )


async def send(h: Harness, n: int, **overrides: object) -> object:
    return (await h.gateway.dispatch(action(id=f"a-{n}", **overrides), ANONYMOUS)).outcome


async def test_opens_serves_the_fallback_half_opens_and_closes() -> None:
    h = await harness(breakers=settings(fallback_provider="sms"))
    email, sms = h.providers["email"], h.providers["sms"]
    email.script = [DOWN]
    for n in range(2):  # failure_threshold 2: each dispatch is one result, after the executor's retries
        assert isinstance(await send(h, n), Failed)
    assert len(email.calls) == 6

    served = await send(h, 2)
    assert served == Rerouted("email", "sms", ProviderResponse("success", {"ok": "sms"}, {}))
    assert len(email.calls) == 6 and [a.provider for a in sms.calls] == ["sms"]

    h.clock.advance(60)
    email.script = [OK]
    assert await send(h, 3) == Executed(OK)  # the probe
    assert len(email.calls) == 7
    assert await send(h, 4) == Executed(OK)  # success_threshold 2: closed again
    email.script = [DOWN]
    assert isinstance(await send(h, 5), Failed)  # closed: one failure does not open it
    assert isinstance(await send(h, 6), Failed)
    assert isinstance(await send(h, 7), Rerouted)


async def test_a_failed_probe_reopens_the_breaker() -> None:
    h = await harness(breakers=settings(fallback_provider="sms"))
    h.providers["email"].script = [DOWN]
    for n in range(2):
        await send(h, n)
    h.clock.advance(60)
    assert isinstance(await send(h, 2), Failed)  # the probe fails
    calls = len(h.providers["email"].calls)
    assert isinstance(await send(h, 3), Rerouted)
    assert len(h.providers["email"].calls) == calls


async def test_no_provider_accepts_circuit_open_and_no_call() -> None:
    h = await harness(breakers=settings())
    h.providers["email"].script = [DOWN]
    for n in range(2):
        await send(h, n)
    calls = len(h.providers["email"].calls)
    assert await send(h, 2) == CircuitOpen("email", ())
    assert len(h.providers["email"].calls) == calls


async def test_the_chain_skips_open_fallbacks_and_names_them_when_all_reject() -> None:
    h = await harness(breakers=settings(fallback_provider="sms"))
    for name in ("email", "sms"):
        h.providers[name].script = [DOWN]
    for n in range(2):
        await send(h, n, provider="sms")
    for n in range(2, 4):
        await send(h, n)
    assert await send(h, 4) == CircuitOpen("email", ("sms",))
    assert sum(len(p.calls) for p in h.providers.values()) == 12


async def test_a_non_retryable_failure_does_not_count() -> None:
    h = await harness(breakers=settings(fallback_provider="sms"))
    h.providers["email"].script = [ProviderError("execution_failed", "HTTP 500", retryable=False)]
    for n in range(4):
        assert isinstance(await send(h, n), Failed)
    assert all(a.provider == "email" for a in h.providers["email"].calls)
    assert h.providers["sms"].calls == []


async def test_a_dedup_key_is_released_when_the_circuit_is_open() -> None:
    rules = """
rules:
  - name: once
    priority: 1
    condition: {field: action.action_type, eq: send_email}
    action: {type: deduplicate, ttl_seconds: 300}
"""
    h = await harness(rules, breakers=settings())
    h.providers["email"].script = [DOWN]
    for n in range(2):
        await send(h, n, dedup_key=f"k-{n}")
    assert await send(h, 2, dedup_key="k") == CircuitOpen("email", ())
    h.clock.advance(60)
    h.providers["email"].script = [OK]
    assert await send(h, 3, dedup_key="k") == Executed(OK)  # the key was free


async def test_a_rule_reroute_runs_through_the_targets_breaker() -> None:
    rules = """
rules:
  - name: to-sms
    priority: 1
    condition: {field: action.action_type, eq: urgent}
    action: {type: reroute, target_provider: sms}
"""
    h = await harness(rules, breakers=settings())
    h.providers["sms"].script = [DOWN]
    for n in range(2):
        assert isinstance(await send(h, n, action_type="urgent"), Failed)
    assert await send(h, 2, action_type="urgent") == CircuitOpen("sms", ())
    h.clock.advance(60)
    h.providers["sms"].script = [ProviderResponse("success", {}, {})]
    assert await send(h, 3, action_type="urgent") == Rerouted(
        "email", "sms", ProviderResponse("success", {}, {})
    )
