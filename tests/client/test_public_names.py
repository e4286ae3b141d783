"""The SDK's public surface is pinned: a name added or removed must change this test too (httpx's
``test_exported_members``), and the blocking ``Client`` offers exactly what ``AsyncClient`` does."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import tidegate.client
from tidegate.client import AsyncClient, Client

PUBLIC = [
    "DEFAULT_URL",
    "APIError",
    "ApprovalDecision",
    "AsyncClient",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "BatchItem",
    "Client",
    "ConflictError",
    "ConnectionChange",
    "DispatchDone",
    "DispatchResult",
    "DispatchStreamEvent",
    "DispatchStreamItem",
    "ErrorInfo",
    "EventType",
    "ExecutionDone",
    "ExecutionItem",
    "GoneError",
    "GroupFlush",
    "HistoryEntry",
    "Lagged",
    "MethodNotAllowedError",
    "NotFoundError",
    "Page",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "ServerError",
    "ServiceUnavailableError",
    "StreamEvent",
    "StreamInterrupted",
    "StreamItem",
    "TidegateClientError",
    "TransportError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "event_outcome",
]

METHODS = [
    "aclose",
    "approval",
    "approvals",
    "approve",
    "audit",
    "audit_record",
    "base_url",
    "cancel_chain",
    "chain",
    "chain_definition",
    "chain_definitions",
    "chains",
    "circuit_breakers",
    "create_recurring",
    "decide_link",
    "delete_chain_definition",
    "delete_recurring",
    "dispatch",
    "dispatch_batch",
    "dispatch_stream",
    "embedding_similarity",
    "event",
    "events",
    "execution_events",
    "execution_history",
    "flush_group",
    "group",
    "groups",
    "health",
    "login",
    "logout",
    "metrics",
    "metrics_prometheus",
    "openapi",
    "pause_recurring",
    "put_chain_definition",
    "recurring",
    "recurring_actions",
    "reject",
    "reload_rules",
    "reset_circuit_breaker",
    "resume_recurring",
    "rules",
    "set_rule_enabled",
    "stream",
    "token",
    "transition_event",
    "trip_circuit_breaker",
    "update_recurring",
]


def test_all_is_pinned_and_importable() -> None:
    assert tidegate.client.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(tidegate.client, name) is not None


def _public(cls: type) -> list[str]:
    return sorted(name for name in vars(cls) if not name.startswith("_"))


def test_both_clients_offer_every_endpoint() -> None:
    assert _public(AsyncClient) == METHODS
    assert _public(Client) == sorted(("close" if m == "aclose" else m) for m in METHODS)
    for name in METHODS:
        if name in ("aclose", "base_url", "token"):
            continue
        async_params = inspect.signature(getattr(AsyncClient, name)).parameters
        assert async_params == inspect.signature(getattr(Client, name)).parameters, name


def test_the_blocking_client_is_generated_from_the_async_one() -> None:
    tool = Path(__file__).resolve().parents[2] / "tools" / "unasync_client.py"
    spec = importlib.util.spec_from_file_location("unasync_client", tool)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = module.render()
    current = (module.CLIENT / "_sync.py").read_text()
    assert generated == current, "run `python tools/unasync_client.py`: _sync.py is out of date"
