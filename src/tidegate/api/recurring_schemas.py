"""Bodies of the recurring endpoints (api.md §12), with the seed's and the SDK's aliases, and the
documented answers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from tidegate.model.action import Identifier, Timestamp, flatten_metadata
from tidegate.model.json import JsonValue

__all__ = ["RECURRING_MODELS", "RecurringCreate", "RecurringUpdate"]

Description = Annotated[str, Field(max_length=1024)]
Labels = Annotated[dict[str, str], BeforeValidator(flatten_metadata)]
Count = Annotated[int, Field(ge=1, strict=True)]

_ALIASES = (("cron_expr", "cron_expression"), ("ends_at", "end_date"))


def _merge_aliases(data: Any) -> Any:
    """``cron_expression`` and ``end_date`` stand for ``cron_expr`` and ``ends_at``; both with different
    values is an error. ``name`` stands for ``description`` when that is absent."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for field, alias in _ALIASES:
        if alias in data:
            value = data.pop(alias)
            if field in data and data[field] != value:
                raise ValueError(f"{field} and {alias} differ")
            data[field] = value
    if "name" in data:
        name = data.pop("name")
        data.setdefault("description", name)
    return data


class _Fields(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    timezone: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    payload: JsonValue = None
    description: Description | None = None
    metadata: Labels | None = None
    dedup_key: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    enabled: Annotated[bool, Field(strict=True)] | None = None
    ends_at: Timestamp | None = None
    max_executions: Count | None = None

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        return _merge_aliases(data)


class RecurringCreate(_Fields):
    namespace: Identifier
    tenant: Identifier
    provider: Identifier
    action_type: Identifier
    cron_expr: Annotated[str, Field(max_length=256)]


class RecurringUpdate(_Fields):
    """Any create field but ``namespace`` and ``tenant``, which only locate the action."""

    namespace: Identifier | None = None
    tenant: Identifier | None = None
    provider: Identifier | None = None
    action_type: Identifier | None = None
    cron_expr: Annotated[str, Field(max_length=256)] | None = None


class Recurring(BaseModel):
    recurring_id: str
    namespace: str
    tenant: str
    cron_expr: str
    timezone: str
    enabled: bool
    provider: str
    action_type: str
    payload: JsonValue
    metadata: dict[str, str]
    dedup_key: str | None
    description: str | None
    next_execution: str | None = Field(description="UTC; null when paused or no occurrence remains")
    last_executed_at: str | None
    execution_count: int
    ends_at: str | None
    max_executions: int | None
    created_at: str
    updated_at: str


class RecurringCreated(BaseModel):
    recurring_id: str
    next_execution: str | None
    cron_expr: str
    timezone: str
    enabled: bool


class RecurringList(BaseModel):
    recurring_actions: list[Recurring]
    count: int
    total: int
    limit: int
    offset: int


RECURRING_MODELS: list[tuple[type[BaseModel], Any]] = [
    (RecurringCreate, "validation"),
    (RecurringUpdate, "validation"),
    (Recurring, "serialization"),
    (RecurringCreated, "serialization"),
    (RecurringList, "serialization"),
]
