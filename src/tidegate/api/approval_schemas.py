"""Wire shapes of the approval endpoints (api.md §7), described for the OpenAPI document
(``schemas.DOC_MODELS``); the handlers build their bodies from ``tidegate.approvals``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from tidegate.model.json import JsonValue

__all__ = ["APPROVAL_MODELS", "Approval", "ApprovalDecision", "ApprovalList"]

Status = Literal["pending", "approved", "rejected", "expired"]


class Approval(BaseModel):
    """Never the signature, the links or the payload."""

    approval_id: str
    namespace: str
    tenant: str
    action_id: str
    action_type: str
    provider: str
    rule: str
    message: str | None
    status: Status
    notification_sent: bool
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None = Field(description="the deciding caller's id, or `link` for a signed link")


class ApprovalList(BaseModel):
    approvals: list[Approval]
    count: int
    total: int
    limit: int
    offset: int


class ApprovalDecision(BaseModel):
    approval_id: str
    status: Literal["approved", "rejected"]
    decided_at: datetime
    decided_by: str
    outcome: Annotated[
        dict[str, JsonValue] | None,
        WithJsonSchema({"anyOf": [{"$ref": "#/components/schemas/DispatchOutcome"}, {"type": "null"}]}),
    ] = Field(description="the approved action's dispatch outcome (api.md §3.3); null for a rejection")


APPROVAL_MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (Approval, "serialization"),
    (ApprovalList, "serialization"),
    (ApprovalDecision, "serialization"),
]
