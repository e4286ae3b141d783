"""The frames of one dispatch stream (stream.md §3.3-3.5), built as finished bytes.

Every event but ``done`` wraps its data in the seed 003 envelope
``{"type","message","timestamp","action_id","trace_id","data"}``; ``message`` is informative only.
``done`` carries the ``/v1/dispatch`` body unwrapped, or the error summary of §3.5. Pure apart from the
injected clock, so the wording and key order are tested without a server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tidegate.model.json import JsonObject, JsonValue
from tidegate.model.time import format_ts
from tidegate.stream.frames import named_frame

__all__ = ["DispatchEvents", "trace_id_of"]

_OUTCOME_TEXT = {
    "executed": "Action executed.",
    "deduplicated": "Action deduplicated.",
    "suppressed": "Action suppressed.",
    "rerouted": "Action rerouted.",
    "throttled": "Action throttled.",
    "failed": "Action failed.",
    "grouped": "Action grouped.",
    "state_changed": "Action changed state.",
    "pending_approval": "Action is pending approval.",
    "chain_started": "Action started a chain.",
    "circuit_open": "Action not executed: the circuit is open.",
    "dry_run": "Dry run evaluated.",
}


def trace_id_of(trace_context: dict[str, str]) -> str | None:
    """The 32-hex trace id of a valid ``traceparent`` (``api/trace.py`` keeps only valid ones), else None."""
    traceparent = trace_context.get("traceparent")
    return traceparent[3:35] if traceparent else None


@dataclass(frozen=True, slots=True)
class DispatchEvents:
    """Frame builder for one action; each method returns one ``event: <name>\\ndata: <json>\\n\\n`` frame."""

    action_id: str
    trace_id: str | None
    now: Callable[[], datetime]

    def started(self, namespace: str, tenant: str, provider: str, action_type: str, dry_run: bool) -> bytes:
        verb = "Evaluating (dry run)" if dry_run else "Dispatching"
        data: JsonObject = {
            "namespace": namespace,
            "tenant": tenant,
            "provider": provider,
            "action_type": action_type,
            "dry_run": dry_run,
        }
        message = f"{verb} action '{action_type}' to provider '{provider}'."
        return self._event("dispatch_started", message, data)

    def rule_matched(self, rule: str, verdict: str, priority: int | None) -> bytes:
        data: JsonObject = {"rule": rule, "verdict": verdict, "priority": priority}
        return self._event("rule_matched", f"Rule '{rule}' matched: {verdict}.", data)

    def attempt_started(self, attempt: int, provider: str) -> bytes:
        data: JsonObject = {"attempt": attempt, "provider": provider}
        return self._event("attempt_started", f"Attempt {attempt} on provider '{provider}'.", data)

    def attempt_failed(
        self, attempt: int, provider: str, error: JsonObject, retry_in_ms: int | None
    ) -> bytes:
        """``retry_in_ms`` is the backoff before the next attempt, None when no attempt follows."""
        data: JsonObject = {
            "attempt": attempt,
            "provider": provider,
            "error": error,
            "retry_in_ms": retry_in_ms,
        }
        then = "no attempt follows" if retry_in_ms is None else f"retrying in {retry_in_ms} ms"
        return self._event("attempt_failed", f"Attempt {attempt} failed; {then}.", data)

    def outcome(self, body: JsonObject) -> bytes:
        """``body`` is the ``/v1/dispatch`` body (api.md §3.3)."""
        category = str(body.get("outcome"))
        message = _OUTCOME_TEXT.get(category, f"Outcome: {category}.")
        return self._event("outcome", message, body)

    def error(self, code: str, message: str, retryable: bool) -> bytes:
        data: JsonObject = {"code": code, "message": message, "retryable": retryable}
        return self._event("error", message, data)

    def done(self, body: JsonObject) -> bytes:
        """The last frame of a dispatch that reached its outcome: the ``/v1/dispatch`` body, unwrapped."""
        return named_frame("done", body)

    def failed_done(self, code: str, message: str, retryable: bool) -> bytes:
        """The last frame after an ``error`` (§3.5): no outcome, the error again."""
        error: JsonObject = {"code": code, "message": message, "retryable": retryable}
        return named_frame("done", {"action_id": self.action_id, "outcome": None, "error": error})

    def _event(self, name: str, message: str, data: JsonValue) -> bytes:
        return named_frame(
            name,
            {
                "type": name,
                "message": message,
                "timestamp": format_ts(self.now()),
                "action_id": self.action_id,
                "trace_id": self.trace_id,
                "data": data,
            },
        )
