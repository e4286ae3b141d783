"""Wire shapes of the chain and execution endpoints (api.md §9), described for the OpenAPI document
(``schemas.DOC_MODELS``); the handlers build their bodies from ``chains.ChainRun``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tidegate.config.chains import ChainDefinition

__all__ = [
    "CHAIN_MODELS",
    "CancelBody",
    "ChainDefinitionList",
    "ChainDefinitionView",
    "ChainDetail",
    "ChainList",
    "ChainSummary",
    "EntryType",
    "ExecutionHistory",
]

ChainStatus = Literal["running", "completed", "failed", "cancelled", "timed_out"]
#: The history entry types of stream.md §2.3.
EntryType = Literal[
    "initiated",
    "processing",
    "step_start",
    "step_retrying",
    "step_complete",
    "step_failed",
    "step_skipped",
    "completed",
    "failed",
    "cancelled",
    "timed_out",
]


class ChainSummary(BaseModel):
    chain_id: str
    execution_id: str = Field(description="equals chain_id")
    chain_name: str
    namespace: str
    tenant: str
    status: ChainStatus
    current_step: str | None = Field(description="null once the chain is terminal")
    current_step_index: int | None
    total_steps: int
    origin_action_id: str
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None = Field(description="null while the chain runs")


class StepError(BaseModel):
    code: str
    message: str
    retryable: bool


class ChainStepView(BaseModel):
    name: str
    index: int
    provider: str
    action_type: str
    status: Literal["pending", "running", "completed", "failed", "skipped"]
    attempts: int
    started_at: datetime | None
    completed_at: datetime | None
    response_status: Literal["success", "failure", "partial"] | None
    error: StepError | None


class ChainDetail(ChainSummary):
    steps: list[ChainStepView]
    execution_path: list[str] = Field(description="step names in the order they ran")
    cancel_reason: str | None
    cancelled_by: str | None


class ChainList(BaseModel):
    chains: list[ChainSummary]
    count: int
    total: int
    limit: int
    offset: int


class CancelBody(BaseModel):
    """The optional body of POST /v1/chains/{chain_id}/cancel; namespace and tenant must match the chain.
    Unknown keys are ignored (README "Transport", D3)."""

    model_config = ConfigDict(extra="ignore")

    reason: str | None = Field(None, max_length=1024)
    namespace: str | None = None
    tenant: str | None = None


class HistoryEntry(BaseModel):
    """One durable history entry (stream.md §2.3); the type's own fields follow ``type``."""

    model_config = ConfigDict(extra="allow")

    execution_id: str
    seq: int = Field(ge=1, description="dense from 1 per execution")
    timestamp: datetime
    type: EntryType


class ExecutionHistory(BaseModel):
    execution_id: str
    status: ChainStatus
    events: list[HistoryEntry]
    count: int
    last_seq: int = Field(description="the highest seq in the history, whatever the page")


class ChainDefinitionView(ChainDefinition):
    """A definition as answered: the features.md §16 schema plus where it comes from."""

    source: Literal["config", "api"]


class ChainDefinitionList(BaseModel):
    definitions: list[ChainDefinitionView] = Field(description="sorted by name")


CHAIN_MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (ChainSummary, "serialization"),
    (ChainDetail, "serialization"),
    (ChainList, "serialization"),
    (CancelBody, "validation"),
    (ExecutionHistory, "serialization"),
    (ChainDefinition, "validation"),
    (ChainDefinitionView, "serialization"),
    (ChainDefinitionList, "serialization"),
]
