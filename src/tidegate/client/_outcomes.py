"""Dispatch answers read back into the server's own outcome values (``tidegate.model.outcome``).

The REST body of api.md §3.3 is ``action_id``, ``outcome`` (the category), then the category's fields;
``parse_dispatch`` inverts ``rest_body`` exactly, so ``result.to_json()`` is the body the server sent."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tidegate.client._errors import ProtocolError
from tidegate.model.json import JsonObject
from tidegate.model.outcome import (
    ActionError,
    ChainStarted,
    CircuitOpen,
    Deduplicated,
    DryRun,
    Executed,
    Failed,
    Grouped,
    Outcome,
    PendingApproval,
    ProviderResponse,
    Rerouted,
    StateChanged,
    Suppressed,
    Throttled,
    rest_body,
)
from tidegate.model.time import parse_ts

__all__ = [
    "STREAM_TAGS",
    "BatchItem",
    "DispatchResult",
    "ErrorInfo",
    "parse_batch",
    "parse_dispatch",
    "parse_error_info",
]


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """One dispatch's answer: the normalized action id and its outcome value."""

    action_id: str
    outcome: Outcome

    @property
    def category(self) -> str:
        """``executed``, ``deduplicated``, ... or ``dry_run``."""
        return self.outcome.category

    def to_json(self) -> JsonObject:
        return rest_body(self.action_id, self.outcome)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """``{"code","message","retryable"}``: a batch item's error, or an error inside a stream."""

    code: str
    message: str
    retryable: bool


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One result of a batch, in input order: exactly one of ``result`` and ``error`` is set."""

    result: DispatchResult | None
    error: ErrorInfo | None

    @property
    def ok(self) -> bool:
        return self.error is None


def _response(data: Any) -> ProviderResponse:
    return ProviderResponse(
        status=data["status"], body=data.get("body"), headers=dict(data.get("headers") or {})
    )


def _error(data: Any) -> ActionError:
    return ActionError(data["code"], data["message"], bool(data["retryable"]), int(data["attempts"]))


_PARSERS: dict[str, Callable[[Mapping[str, Any]], Outcome]] = {
    "executed": lambda d: Executed(_response(d["response"])),
    "deduplicated": lambda d: Deduplicated(d["dedup_key"], d.get("original_action_id")),
    "suppressed": lambda d: Suppressed(d["rule"]),
    "rerouted": lambda d: Rerouted(d["original_provider"], d["new_provider"], _response(d["response"])),
    "throttled": lambda d: Throttled(d["rule"], int(d["retry_after_seconds"])),
    "failed": lambda d: Failed(_error(d["error"])),
    "grouped": lambda d: Grouped(
        d["group_id"], d["group_key"], int(d["group_size"]), parse_ts(d["notify_at"])
    ),
    "state_changed": lambda d: StateChanged(
        d["fingerprint"],
        d["previous_state"],
        d["new_state"],
        bool(d["notify"]),
        bool(d["transition_allowed"]),
    ),
    "pending_approval": lambda d: PendingApproval(
        d["approval_id"],
        parse_ts(d["expires_at"]),
        d["approve_url"],
        d["reject_url"],
        bool(d["notification_sent"]),
    ),
    "chain_started": lambda d: ChainStarted(
        d["chain_id"], d["chain_name"], int(d["total_steps"]), d["first_step"]
    ),
    "circuit_open": lambda d: CircuitOpen(d["provider"], tuple(d.get("fallback_chain") or ())),
    "dry_run": lambda d: DryRun(d["verdict"], d.get("matched_rule"), d["would_be_provider"]),
}

#: The stream's externally tagged names (stream.md §1.6) and the category each stands for.
STREAM_TAGS: dict[str, str] = {
    "Executed": "executed",
    "Deduplicated": "deduplicated",
    "Suppressed": "suppressed",
    "Rerouted": "rerouted",
    "Throttled": "throttled",
    "Failed": "failed",
    "Grouped": "grouped",
    "StateChanged": "state_changed",
    "PendingApproval": "pending_approval",
    "ChainStarted": "chain_started",
    "CircuitOpen": "circuit_open",
}


def parse_dispatch(data: object) -> DispatchResult:
    """Raise ProtocolError for a body that is not one of api.md §3.3's shapes."""
    if not isinstance(data, dict):
        raise ProtocolError("dispatch answer is not a JSON object")
    parser = _PARSERS.get(str(data.get("outcome")))
    if parser is None:
        raise ProtocolError(f"unknown dispatch outcome: {data.get('outcome')!r}")
    try:
        return DispatchResult(str(data["action_id"]), parser(data))
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed {data.get('outcome')} answer: {exc!r}") from None


def parse_error_info(data: object) -> ErrorInfo:
    if not isinstance(data, dict):
        raise ProtocolError("error is not a JSON object")
    return ErrorInfo(str(data.get("code")), str(data.get("message", "")), bool(data.get("retryable", False)))


def parse_batch(data: object) -> list[BatchItem]:
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ProtocolError("batch answer has no results list")
    items = []
    for entry in data["results"]:
        if isinstance(entry, dict) and entry.get("status") == "success":
            items.append(BatchItem(parse_dispatch(entry.get("outcome")), None))
        elif isinstance(entry, dict) and entry.get("status") == "error":
            items.append(BatchItem(None, parse_error_info(entry.get("error"))))
        else:
            raise ProtocolError("batch result is neither a success nor an error")
    return items
