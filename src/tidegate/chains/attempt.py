"""One attempt of a chain step: the executor with no retries and the step's timeout, through the circuit
breakers, without rules (features.md §16 step 2: the chain was authorised when it started)."""

from __future__ import annotations

import logging

from tidegate.breakers import Breakers
from tidegate.chains.advance import AttemptResult
from tidegate.errors import ProviderNotFound
from tidegate.executor.runner import ExecutionResult, Executor
from tidegate.model.action import Action
from tidegate.model.json import JsonObject
from tidegate.model.outcome import ActionError, CircuitOpen, Executed, Failed, Outcome, Rerouted

__all__ = ["attempt_result", "execute_step"]

log = logging.getLogger(__name__)


async def execute_step(
    executor: Executor,
    breakers: Breakers | None,
    action: Action,
    timeout: float | None,  # noqa: ASYNC109 - the per-attempt limit the executor applies
) -> Outcome:
    """``executed``, ``rerouted`` (a breaker fallback), ``failed`` or ``circuit_open``; never raises for a
    provider problem (a provider no longer configured is a non-retryable ``configuration`` failure)."""
    provider = action.provider
    if breakers is None or not breakers.knows(provider):
        result = await _execute(executor, action, provider, timeout)
        return Failed(result) if isinstance(result, ActionError) else Executed(result)
    route = await breakers.route(provider)
    if route.provider is None:
        return CircuitOpen(provider, route.fallback_chain)
    target = route.provider
    result = await _execute(executor, action.replace(provider=target), target, timeout)
    try:
        await breakers.record(target, result)
    except Exception:  # the provider ran: its result must still be recorded on the run
        log.exception("could not record a circuit breaker result", extra={"provider": target})
    if isinstance(result, ActionError):
        return Failed(result)
    return Executed(result) if target == provider else Rerouted(provider, target, result)


async def _execute(
    executor: Executor,
    action: Action,
    provider: str,
    timeout: float | None,  # noqa: ASYNC109 - the per-attempt limit the executor applies
) -> ExecutionResult:
    try:
        return await executor.execute(action, provider, max_retries=0, timeout=timeout)
    except ProviderNotFound:
        return ActionError("configuration", f"provider not configured: {provider}", False, 1)


def attempt_result(outcome: Outcome) -> AttemptResult:
    """What the run keeps of an attempt (§16 step 3): a circuit_open counts as a retryable failure."""
    if isinstance(outcome, Executed | Rerouted):
        return AttemptResult(True, outcome.response.status, outcome.response.body)
    if isinstance(outcome, Failed):
        error = outcome.error
        detail: JsonObject = {"code": error.code, "message": error.message, "retryable": error.retryable}
        return AttemptResult(False, error=detail, retryable=error.retryable)
    if isinstance(outcome, CircuitOpen):
        message = f"circuit open for provider {outcome.provider}"
        return AttemptResult(
            False, error={"code": "circuit_open", "message": message, "retryable": True}, retryable=True
        )
    raise TypeError(f"a chain step cannot end as {outcome.category}")
