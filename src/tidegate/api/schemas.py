"""Wire shapes for the OpenAPI document only: handlers build their bodies from the domain types and encode
them with orjson; these models describe those bodies (api.md) so clients and schemathesis can check them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictBool

from tidegate.api.approval_schemas import APPROVAL_MODELS
from tidegate.api.breaker_schemas import BREAKER_MODELS
from tidegate.api.chain_schemas import CHAIN_MODELS
from tidegate.api.embedding_schemas import EMBEDDING_MODELS
from tidegate.api.errors import ERROR_CODES
from tidegate.api.event_state_schemas import EVENT_STATE_MODELS
from tidegate.api.group_schemas import GROUP_MODELS
from tidegate.api.recurring_schemas import RECURRING_MODELS
from tidegate.model.action import ActionRequest
from tidegate.model.audit import AUDIT_OUTCOMES
from tidegate.model.json import JsonValue
from tidegate.model.verdict import VerdictKind

__all__ = ["DOC_MODELS", "EnabledBody", "LoginBody"]

ErrorCode = Literal[ERROR_CODES]  # type: ignore[valid-type]
AuditOutcome = Literal[AUDIT_OUTCOMES]  # type: ignore[valid-type]


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="starts with body, query, path or header")
    msg: str
    type: str


class Error(BaseModel):
    """README's error body (D4): the same shape for every error status."""

    code: ErrorCode
    message: str
    retryable: bool
    detail: str | list[ValidationIssue] = Field(description="the message, or on a 422 the list of issues")
    error_code: ErrorCode
    correlation_id: str = Field(description="the request id (X-Request-ID)")
    timestamp: datetime


class Counters(BaseModel):
    dispatched: int
    executed: int
    deduplicated: int
    suppressed: int
    rerouted: int
    throttled: int
    failed: int
    grouped: int
    pending_approval: int
    state_changed: int
    chain_started: int
    circuit_open: int
    dry_run: int


class HealthOk(BaseModel):
    status: Literal["ok"]
    metrics: Counters


class HealthUnavailable(BaseModel):
    status: Literal["unavailable"]
    failing: list[Literal["state_store", "audit_store", "event_log"]]
    metrics: Counters


class ProviderResponse(BaseModel):
    status: Literal["success", "failure", "partial"]
    body: JsonValue
    headers: dict[str, str]


class ActionErrorBody(BaseModel):
    code: str
    message: str
    retryable: bool
    attempts: int


class _Outcome(BaseModel):
    action_id: str


class OutcomeExecuted(_Outcome):
    outcome: Literal["executed"]
    response: ProviderResponse


class OutcomeDeduplicated(_Outcome):
    outcome: Literal["deduplicated"]
    dedup_key: str
    original_action_id: str | None


class OutcomeSuppressed(_Outcome):
    outcome: Literal["suppressed"]
    rule: str


class OutcomeRerouted(_Outcome):
    outcome: Literal["rerouted"]
    original_provider: str
    new_provider: str
    response: ProviderResponse


class OutcomeThrottled(_Outcome):
    outcome: Literal["throttled"]
    rule: str
    retry_after_seconds: int = Field(ge=1)


class OutcomeFailed(_Outcome):
    outcome: Literal["failed"]
    error: ActionErrorBody


class OutcomeGrouped(_Outcome):
    outcome: Literal["grouped"]
    group_id: str
    group_key: str
    group_size: int
    notify_at: datetime


class OutcomeStateChanged(_Outcome):
    outcome: Literal["state_changed"]
    fingerprint: str
    previous_state: str | None
    new_state: str
    notify: bool
    transition_allowed: bool


class OutcomePendingApproval(_Outcome):
    outcome: Literal["pending_approval"]
    approval_id: str
    expires_at: datetime
    approve_url: str
    reject_url: str
    notification_sent: bool


class OutcomeChainStarted(_Outcome):
    outcome: Literal["chain_started"]
    chain_id: str
    chain_name: str
    total_steps: int
    first_step: str


class OutcomeCircuitOpen(_Outcome):
    outcome: Literal["circuit_open"]
    provider: str
    fallback_chain: list[str]


class OutcomeDryRun(_Outcome):
    outcome: Literal["dry_run"]
    verdict: VerdictKind
    matched_rule: str | None
    would_be_provider: str


class DispatchOutcome(RootModel[object]):
    """The 200 body of a dispatch (api.md §3.3): ``action_id``, ``outcome``, then the category's fields."""

    root: Annotated[
        OutcomeExecuted
        | OutcomeDeduplicated
        | OutcomeSuppressed
        | OutcomeRerouted
        | OutcomeThrottled
        | OutcomeFailed
        | OutcomeGrouped
        | OutcomeStateChanged
        | OutcomePendingApproval
        | OutcomeChainStarted
        | OutcomeCircuitOpen
        | OutcomeDryRun,
        Field(discriminator="outcome"),
    ]


class ItemError(BaseModel):
    code: ErrorCode
    message: str
    retryable: bool


class BatchSuccess(BaseModel):
    status: Literal["success"]
    outcome: DispatchOutcome


class BatchFailure(BaseModel):
    status: Literal["error"]
    error: ItemError


class BatchResponse(BaseModel):
    results: list[Annotated[BatchSuccess | BatchFailure, Field(discriminator="status")]]


class Rule(BaseModel):
    name: str
    priority: int
    enabled: bool
    description: str | None
    action: str
    source: str


class RuleList(BaseModel):
    rules: list[Rule]


class RuleFileError(BaseModel):
    file: str
    message: str


class ReloadResult(BaseModel):
    loaded: int
    errors: list[RuleFileError]
    applied: bool


class EnabledBody(BaseModel):
    """``PUT /v1/rules/{name}/enabled``: a JSON boolean only (``"false"`` gets 422)."""

    model_config = ConfigDict(extra="ignore")

    enabled: StrictBool


class EnabledResult(BaseModel):
    name: str
    enabled: bool


class AuditRecord(BaseModel):
    id: str
    action_id: str
    chain_id: str | None
    namespace: str
    tenant: str
    provider: str
    action_type: str
    verdict: VerdictKind
    matched_rule: str | None
    outcome: AuditOutcome
    outcome_details: dict[str, JsonValue]
    action_payload: JsonValue
    metadata: dict[str, str]
    dedup_key: str | None
    fingerprint: str | None
    status: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    trace_context: dict[str, str]
    caller_id: str
    auth_method: Literal["jwt", "api_key", "anonymous", "system"]
    dispatched_at: datetime
    completed_at: datetime
    duration_ms: int
    expires_at: datetime | None


class AuditList(BaseModel):
    records: list[AuditRecord]
    count: int
    total: int
    limit: int
    offset: int


class LoginBody(BaseModel):
    """``POST /v1/auth/login`` (api.md §13); strings only, so a number is a 422, not a coerced name."""

    model_config = ConfigDict(extra="ignore")

    username: Annotated[str, Field(min_length=1, max_length=256, strict=True)]
    password: Annotated[str, Field(min_length=1, max_length=1024, strict=True)]


class LoginToken(BaseModel):
    token: str = Field(description="an HS256 JWT; send it as `Authorization: Bearer <token>`")
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="the token lifetime in seconds (`auth.jwt_expiry_seconds`)")


class LogoutResult(BaseModel):
    status: Literal["logged_out"]


#: Models whose JSON schemas become ``components/schemas`` entries, with the mode each is used in.
DOC_MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (Error, "serialization"),
    (ActionRequest, "validation"),
    (Counters, "serialization"),
    (HealthOk, "serialization"),
    (HealthUnavailable, "serialization"),
    (DispatchOutcome, "serialization"),
    (BatchResponse, "serialization"),
    (RuleList, "serialization"),
    (ReloadResult, "serialization"),
    (EnabledBody, "validation"),
    (EnabledResult, "serialization"),
    (AuditRecord, "serialization"),
    (AuditList, "serialization"),
    (LoginBody, "validation"),
    (LoginToken, "serialization"),
    (LogoutResult, "serialization"),
    *EVENT_STATE_MODELS,
    *GROUP_MODELS,
    *APPROVAL_MODELS,
    *BREAKER_MODELS,
    *RECURRING_MODELS,
    *EMBEDDING_MODELS,
    *CHAIN_MODELS,
]
