"""Wire shapes of the state-machine event endpoints (api.md §6): the transition body, validated here,
and the ``EventState`` answers, described for the OpenAPI document (``schemas.DOC_MODELS``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

__all__ = ["EVENT_STATE_MODELS", "EventList", "EventState", "TransitionBody", "TransitionResult"]

Text = Annotated[str, Field(strict=True)]


class EventState(BaseModel):
    fingerprint: str
    namespace: str
    tenant: str
    state_machine: str
    state: str
    action_type: str | None = Field(description="the last action's type")
    updated_at: datetime
    timeout_at: datetime | None = Field(description="when the current state's timeout fires, if it has one")


class EventList(BaseModel):
    events: list[EventState]
    count: int
    total: int
    limit: int
    offset: int


class TransitionBody(BaseModel):
    """``to`` is an alias of ``to_state``; ``namespace`` and ``tenant`` may come from the query instead."""

    model_config = ConfigDict(extra="ignore")

    to_state: Text | None = Field(None, description="the target state (required, or give `to`)")
    to: Text | None = Field(None, description="alias of `to_state`")
    namespace: Text | None = Field(None, description="required here or in the query")
    tenant: Text | None = Field(None, description="required here or in the query")

    @model_validator(mode="after")
    def _one_target(self) -> TransitionBody:
        if self.to_state is None and self.to is None:
            raise PydanticCustomError("missing", "Field required: to_state (or to)")
        if self.to_state is not None and self.to is not None and self.to_state != self.to:
            raise PydanticCustomError("value_error", "to and to_state name different states")
        return self

    @property
    def target(self) -> str:
        return self.to_state if self.to_state is not None else (self.to or "")


class TransitionResult(BaseModel):
    fingerprint: str
    namespace: str
    tenant: str
    state_machine: str
    previous_state: str
    new_state: str
    notify: bool = Field(description="the transition's notify flag: a state notification was dispatched")


EVENT_STATE_MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (EventState, "serialization"),
    (EventList, "serialization"),
    (TransitionBody, "validation"),
    (TransitionResult, "serialization"),
]
