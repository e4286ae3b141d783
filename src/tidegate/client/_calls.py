"""Every endpoint of api.md as a ``Call``: method, path, query, body and how to read the answer.

Sans-I/O: building a call and reading its answer need no network, so ``AsyncClient`` and ``Client``
share all of it and differ only in how they send. Path parameters are percent-encoded here, once."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from tidegate.api.approval_schemas import Approval
from tidegate.api.breaker_schemas import BreakerChange, BreakerSummary
from tidegate.api.chain_schemas import ChainDefinitionView, ChainDetail, ChainSummary, ExecutionHistory
from tidegate.api.embedding_schemas import SimilarityResult
from tidegate.api.event_state_schemas import EventState, TransitionResult
from tidegate.api.group_schemas import GroupDetail, GroupSummary
from tidegate.api.recurring_schemas import Recurring, RecurringCreated
from tidegate.api.schemas import (
    Counters,
    EnabledResult,
    HealthOk,
    HealthUnavailable,
    LoginToken,
    ReloadResult,
    Rule,
)
from tidegate.client._errors import ProtocolError
from tidegate.client._models import ApprovalDecision, GroupFlush, Page
from tidegate.client._outcomes import BatchItem, DispatchResult, parse_batch, parse_dispatch
from tidegate.config.chains import ChainDefinition
from tidegate.model.action import ActionRequest
from tidegate.model.audit import AuditRecord
from tidegate.model.time import format_ts, parse_ts

__all__ = ["ActionLike", "Call", "Params", "action_body", "segment"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
ActionLike = ActionRequest | Mapping[str, Any]
Params = dict[str, str]
_NO_BODY: Any = object()


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request and the reader of its 2xx answer. ``ok`` lists non-2xx statuses that are answers too
    (``/health`` reports 503 with its own body)."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: Params = field(default_factory=dict)
    body: Any = _NO_BODY
    headers: dict[str, str] = field(default_factory=dict)
    ok: frozenset[int] = frozenset()

    @property
    def has_body(self) -> bool:
        return self.body is not _NO_BODY

    def content(self) -> bytes:
        return orjson.dumps(self.body)


def segment(value: str) -> str:
    """A path segment: every reserved character encoded (fingerprints and rule names may hold ``/``)."""
    return quote(value, safe="")


def params(**values: object) -> Params:
    """Query parameters without the unset ones; booleans as ``true``/``false``."""
    out: Params = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name.rstrip("_")] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def filters(scope: Mapping[str, object]) -> dict[str, object]:
    """A list method's keyword arguments (its ``locals()``) as the filters of its call."""
    return {name: value for name, value in scope.items() if name != "self"}


def action_body(action: ActionLike) -> Any:
    if isinstance(action, ActionRequest):
        return action.model_dump(mode="json")
    return dict(action)


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise ProtocolError("the answer is not JSON", response.status_code) from None


def _model(cls: type[M], data: Any) -> M:
    try:
        return cls.model_validate(data)
    except PydanticValidationError as exc:
        raise ProtocolError(f"unexpected {cls.__name__} shape: {exc.errors()[:3]}") from None


def _reader(cls: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: _model(cls, _json(response))


def _list_reader(key: str, cls: type[M]) -> Callable[[httpx.Response], list[M]]:
    def read(response: httpx.Response) -> list[M]:
        data = _json(response)
        return [_model(cls, item) for item in _field(data, key)]

    return read


def _page_of(key: str, item: Callable[[Any], T]) -> Callable[[httpx.Response], Page[T]]:
    def read(response: httpx.Response) -> Page[T]:
        data = _json(response)
        try:
            return Page(
                items=[item(entry) for entry in _field(data, key)],
                count=int(data["count"]),
                total=int(data["total"]),
                limit=int(data["limit"]),
                offset=int(data["offset"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed page: {exc!r}") from None

    return read


def _field(data: Any, key: str) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ProtocolError(f"the answer has no {key!r} list")
    items: list[Any] = data[key]
    return items


def _audit(data: Any) -> AuditRecord:
    try:
        return AuditRecord.from_json(data)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed audit record: {exc!r}") from None


def _dispatch(response: httpx.Response) -> DispatchResult:
    return parse_dispatch(_json(response))


def _none(response: httpx.Response) -> None:
    return None


def _text(response: httpx.Response) -> str:
    return response.text


# --- health, metrics, docs ---------------------------------------------------------------------------


def _health(response: httpx.Response) -> HealthOk | HealthUnavailable:
    data = _json(response)
    if response.status_code == 200:
        return _model(HealthOk, data)
    return _model(HealthUnavailable, data)


def health() -> Call[HealthOk | HealthUnavailable]:
    return Call("GET", "/health", _health, ok=frozenset({503}))


def metrics() -> Call[Counters]:
    return Call("GET", "/metrics", _reader(Counters))


def metrics_prometheus() -> Call[str]:
    return Call("GET", "/metrics/prometheus", _text)


def openapi() -> Call[dict[str, Any]]:
    return Call("GET", "/openapi.json", _json)


# --- dispatch ----------------------------------------------------------------------------------------


def _trace(traceparent: str | None, tracestate: str | None) -> dict[str, str]:
    headers = {}
    if traceparent:
        headers["traceparent"] = traceparent
        if tracestate:
            headers["tracestate"] = tracestate
    return headers


def dispatch(
    action: ActionLike, dry_run: bool, traceparent: str | None, tracestate: str | None
) -> Call[DispatchResult]:
    return Call(
        "POST",
        "/v1/dispatch",
        _dispatch,
        params=params(dry_run=dry_run or None),
        body=action_body(action),
        headers=_trace(traceparent, tracestate),
    )


def dispatch_batch(
    actions: Sequence[ActionLike], dry_run: bool, traceparent: str | None, tracestate: str | None
) -> Call[list[BatchItem]]:
    return Call(
        "POST",
        "/v1/dispatch/batch",
        lambda response: parse_batch(_json(response)),
        params=params(dry_run=dry_run or None),
        body={"actions": [action_body(a) for a in actions]},
        headers=_trace(traceparent, tracestate),
    )


# --- rules -------------------------------------------------------------------------------------------


def rules() -> Call[list[Rule]]:
    return Call("GET", "/v1/rules", _list_reader("rules", Rule))


def reload_rules() -> Call[ReloadResult]:
    return Call("POST", "/v1/rules/reload", _reader(ReloadResult))


def set_rule_enabled(name: str, enabled: bool) -> Call[EnabledResult]:
    path = f"/v1/rules/{segment(name)}/enabled"
    return Call("PUT", path, _reader(EnabledResult), body={"enabled": enabled})


# --- audit -------------------------------------------------------------------------------------------


def audit(filters: Mapping[str, object]) -> Call[Page[AuditRecord]]:
    query = {k: (format_ts(v) if isinstance(v, datetime) else v) for k, v in filters.items()}
    return Call("GET", "/v1/audit", _page_of("records", _audit), params=params(**query))


def audit_record(action_id: str) -> Call[AuditRecord]:
    return Call("GET", f"/v1/audit/{segment(action_id)}", lambda r: _audit(_json(r)))


# --- events (state machines) -------------------------------------------------------------------------


def events(filters: Mapping[str, object]) -> Call[Page[EventState]]:
    read = _page_of("events", lambda d: _model(EventState, d))
    return Call("GET", "/v1/events", read, params=params(**filters))


def event(fingerprint: str, namespace: str, tenant: str) -> Call[EventState]:
    path = f"/v1/events/{segment(fingerprint)}"
    return Call("GET", path, _reader(EventState), params=params(namespace=namespace, tenant=tenant))


def transition_event(fingerprint: str, to_state: str, namespace: str, tenant: str) -> Call[TransitionResult]:
    path = f"/v1/events/{segment(fingerprint)}/transition"
    body = {"to_state": to_state, "namespace": namespace, "tenant": tenant}
    return Call("PUT", path, _reader(TransitionResult), body=body)


# --- approvals ---------------------------------------------------------------------------------------


def approvals(filters: Mapping[str, object]) -> Call[Page[Approval]]:
    read = _page_of("approvals", lambda d: _model(Approval, d))
    return Call("GET", "/v1/approvals", read, params=params(**filters))


def _approval_path(namespace: str, tenant: str, approval_id: str) -> str:
    return f"/v1/approvals/{segment(namespace)}/{segment(tenant)}/{segment(approval_id)}"


def _signature(sig: str | None, expires_at: int | None, kid: str | None) -> Params:
    return params(sig=sig, expires_at=expires_at, kid=kid)


def approval(
    namespace: str, tenant: str, approval_id: str, sig: str, expires_at: int, kid: str | None
) -> Call[Approval]:
    path = _approval_path(namespace, tenant, approval_id)
    return Call("GET", path, _reader(Approval), params=_signature(sig, expires_at, kid))


def _decision(response: httpx.Response) -> ApprovalDecision:
    data = _json(response)
    try:
        outcome = data.get("outcome")
        return ApprovalDecision(
            approval_id=str(data["approval_id"]),
            status=data["status"],
            decided_at=parse_ts(data["decided_at"]),
            decided_by=str(data["decided_by"]),
            outcome=None if outcome is None else parse_dispatch(outcome),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed approval decision: {exc!r}") from None


def decide(
    decision: str,
    namespace: str,
    tenant: str,
    approval_id: str,
    sig: str | None,
    expires_at: int | None,
    kid: str | None,
) -> Call[ApprovalDecision]:
    """Signed when ``sig`` is given; otherwise the credentialed decision of api.md §7."""
    path = f"{_approval_path(namespace, tenant, approval_id)}/{decision}"
    return Call("POST", path, _decision, params=_signature(sig, expires_at, kid))


def decide_link(link: str) -> Call[ApprovalDecision]:
    """POST a signed approve or reject link as received (its path and query; the host may be external)."""
    url = httpx.URL(link)
    if not url.path.startswith("/v1/approvals/") or not url.path.endswith(("/approve", "/reject")):
        raise ValueError("not an approval link: the path must end in /approve or /reject")
    return Call("POST", url.path, _decision, params=dict(url.params))


# --- groups ------------------------------------------------------------------------------------------


def groups(filters: Mapping[str, object]) -> Call[Page[GroupSummary]]:
    read = _page_of("groups", lambda d: _model(GroupSummary, d))
    return Call("GET", "/v1/groups", read, params=params(**filters))


def group(group_key: str) -> Call[GroupDetail]:
    return Call("GET", f"/v1/groups/{segment(group_key)}", _reader(GroupDetail))


def _flush(response: httpx.Response) -> GroupFlush:
    data = _json(response)
    try:
        notification = data.get("notification")
        return GroupFlush(
            group_id=str(data["group_id"]),
            group_key=str(data["group_key"]),
            event_count=int(data["event_count"]),
            status=data["status"],
            notified=bool(data["notified"]),
            notification=None if notification is None else parse_dispatch(notification),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed group flush: {exc!r}") from None


def flush_group(group_key: str) -> Call[GroupFlush]:
    return Call("DELETE", f"/v1/groups/{segment(group_key)}", _flush)


# --- chains and executions ---------------------------------------------------------------------------


def chains(filters: Mapping[str, object]) -> Call[Page[ChainSummary]]:
    read = _page_of("chains", lambda d: _model(ChainSummary, d))
    return Call("GET", "/v1/chains", read, params=params(**filters))


def chain(chain_id: str, namespace: str | None, tenant: str | None) -> Call[ChainDetail]:
    query = params(namespace=namespace, tenant=tenant)
    return Call("GET", f"/v1/chains/{segment(chain_id)}", _reader(ChainDetail), params=query)


def cancel_chain(
    chain_id: str, reason: str | None, namespace: str | None, tenant: str | None
) -> Call[ChainDetail]:
    body = {
        k: v for k, v in (("reason", reason), ("namespace", namespace), ("tenant", tenant)) if v is not None
    }
    return Call("POST", f"/v1/chains/{segment(chain_id)}/cancel", _reader(ChainDetail), body=body)


def execution_history(
    execution_id: str, after: int | None, limit: int | None, namespace: str | None, tenant: str | None
) -> Call[ExecutionHistory]:
    query = params(after=after, limit=limit, namespace=namespace, tenant=tenant)
    path = f"/v1/executions/{segment(execution_id)}/history"
    return Call("GET", path, _reader(ExecutionHistory), params=query)


def chain_definitions() -> Call[list[ChainDefinitionView]]:
    return Call("GET", "/v1/chains/definitions", _list_reader("definitions", ChainDefinitionView))


def chain_definition(name: str) -> Call[ChainDefinitionView]:
    return Call("GET", f"/v1/chains/definitions/{segment(name)}", _reader(ChainDefinitionView))


def put_chain_definition(
    name: str, definition: ChainDefinition | Mapping[str, Any]
) -> Call[ChainDefinitionView]:
    body = definition.model_dump(mode="json") if isinstance(definition, ChainDefinition) else dict(definition)
    body.setdefault("name", name)
    path = f"/v1/chains/definitions/{segment(name)}"
    return Call("PUT", path, _reader(ChainDefinitionView), body=body)


def delete_chain_definition(name: str) -> Call[None]:
    return Call("DELETE", f"/v1/chains/definitions/{segment(name)}", _none)


# --- embeddings, circuit breakers --------------------------------------------------------------------


def embedding_similarity(text: str, topic: str) -> Call[SimilarityResult]:
    body = {"text": text, "topic": topic}
    return Call("POST", "/v1/embeddings/similarity", _reader(SimilarityResult), body=body)


def circuit_breakers() -> Call[list[BreakerSummary]]:
    return Call("GET", "/admin/circuit-breakers", _list_reader("circuit_breakers", BreakerSummary))


def change_circuit_breaker(provider: str, change: str) -> Call[BreakerChange]:
    return Call("POST", f"/admin/circuit-breakers/{segment(provider)}/{change}", _reader(BreakerChange))


# --- recurring actions -------------------------------------------------------------------------------


def create_recurring(spec: Mapping[str, Any]) -> Call[RecurringCreated]:
    return Call("POST", "/v1/recurring", _reader(RecurringCreated), body=dict(spec))


def recurring_actions(filters: Mapping[str, object]) -> Call[Page[Recurring]]:
    read = _page_of("recurring_actions", lambda d: _model(Recurring, d))
    return Call("GET", "/v1/recurring", read, params=params(**filters))


def _recurring_path(recurring_id: str, suffix: str = "") -> str:
    return f"/v1/recurring/{segment(recurring_id)}{suffix}"


def recurring(recurring_id: str, namespace: str, tenant: str) -> Call[Recurring]:
    query = params(namespace=namespace, tenant=tenant)
    return Call("GET", _recurring_path(recurring_id), _reader(Recurring), params=query)


def update_recurring(
    recurring_id: str, namespace: str, tenant: str, changes: Mapping[str, Any]
) -> Call[Recurring]:
    query = params(namespace=namespace, tenant=tenant)
    return Call("PUT", _recurring_path(recurring_id), _reader(Recurring), params=query, body=dict(changes))


def delete_recurring(recurring_id: str, namespace: str, tenant: str) -> Call[None]:
    query = params(namespace=namespace, tenant=tenant)
    return Call("DELETE", _recurring_path(recurring_id), _none, params=query)


def change_recurring(recurring_id: str, namespace: str, tenant: str, change: str) -> Call[Recurring]:
    query = params(namespace=namespace, tenant=tenant)
    return Call("POST", _recurring_path(recurring_id, f"/{change}"), _reader(Recurring), params=query)


# --- authentication ----------------------------------------------------------------------------------


def login(username: str, password: str) -> Call[LoginToken]:
    body = {"username": username, "password": password}
    return Call("POST", "/v1/auth/login", _reader(LoginToken), body=body)


def logout() -> Call[None]:
    return Call("POST", "/v1/auth/logout", _none)


# --- streams -----------------------------------------------------------------------------------------


def stream_filters(**filters: str | None) -> Params:
    """``GET /v1/stream`` filters (stream.md §1.1); unset ones are left out, not sent empty."""
    return params(**filters)


def execution_stream_path(execution_id: str) -> str:
    return f"/v1/executions/{segment(execution_id)}/events"


def dispatch_stream(
    action: ActionLike,
    follow: bool,
    timeout: float | None,
    dry_run: bool,
    traceparent: str | None,
    tracestate: str | None,
) -> Call[None]:
    """The request half of ``POST /v1/dispatch/stream``; its answer is read frame by frame."""
    query = params(dry_run=dry_run or None, follow=follow or None, timeout=timeout)
    return Call(
        "POST",
        "/v1/dispatch/stream",
        _none,
        params=query,
        body=action_body(action),
        headers=_trace(traceparent, tracestate),
    )
