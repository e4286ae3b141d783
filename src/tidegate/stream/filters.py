"""Which events a ``/v1/stream`` subscriber asked for (stream.md §1.1) and which it may see (§1.7).

Parsing takes the raw ``(name, value)`` query pairs so a repeated parameter is visible. Filters and
isolation are kept apart: ``StreamFilter.matches`` is what the client asked for, ``visible`` is what its
grants allow, and the broadcaster applies isolation first."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import get_args

from tidegate.errors import InvalidInput
from tidegate.model.caller import Caller
from tidegate.model.event import EventType, StreamEvent
from tidegate.model.outcome import OUTCOME_CATEGORIES, Outcome
from tidegate.stream.grants import caller_covers

__all__ = ["FILTER_PARAMS", "InvalidFilter", "StreamFilter", "outcome_category", "visible"]

_IDENTIFIER = re.compile(r"[A-Za-z0-9._:-]{1,256}")
_IDENTIFIER_PARAMS = ("namespace", "action_type", "tenant")
_IDENTIFIER_RULE = "must be an identifier (1-256 characters of A-Z a-z 0-9 . _ : -)"

#: Every query parameter name that is a filter; any other name is ignored (§1.1).
FILTER_PARAMS: tuple[str, ...] = (
    "namespace",
    "action_type",
    "outcome",
    "event_type",
    "tenant",
    "chain_id",
    "group_id",
    "action_id",
)

#: Stream ``outcome`` tag (``"Executed"``, bare ``"Deduplicated"``) -> its category (``executed``).
_TAG_CATEGORY: dict[str, str] = {
    kind.tag: kind.category for kind in get_args(Outcome) if kind.category in OUTCOME_CATEGORIES
}
_CHAIN_TYPES = frozenset(
    {EventType.CHAIN_ADVANCED, EventType.CHAIN_STEP_COMPLETED, EventType.CHAIN_COMPLETED}
)
_GROUP_TYPES = frozenset({EventType.GROUP_EVENT_ADDED, EventType.GROUP_FLUSHED})
_EVENT_TYPES = {kind.value: kind for kind in EventType}


class InvalidFilter(InvalidInput):
    """A bad ``/v1/stream`` filter: unknown enum value, bad identifier, or a repeated parameter (400)."""

    code = "invalid_filter"


def outcome_category(event: StreamEvent) -> str | None:
    """The category of an ``action_dispatched`` event, read from its externally tagged ``outcome``."""
    outcome = event.fields.get("outcome")
    if isinstance(outcome, str):
        return _TAG_CATEGORY.get(outcome)
    if isinstance(outcome, dict) and len(outcome) == 1:
        return _TAG_CATEGORY.get(next(iter(outcome)))
    return None


def visible(caller: Caller, event: StreamEvent) -> bool:
    """Isolation (§1.7): one grant of the caller covers the event's (tenant, namespace)."""
    return caller_covers(caller, event.tenant, event.namespace)


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """The AND of every given filter; ``None`` means the filter is absent."""

    namespace: str | None = None
    action_type: str | None = None
    outcome: str | None = None
    event_type: EventType | None = None
    tenant: str | None = None
    chain_id: str | None = None
    group_id: str | None = None
    action_id: str | None = None

    @classmethod
    def parse(cls, params: Iterable[tuple[str, str]]) -> StreamFilter:
        """Build from query pairs. Empty values count as absent; unknown names are ignored.

        Raises InvalidFilter naming the parameter for a repeated name, a bad enum value or a bad
        identifier."""
        raw: dict[str, str] = {}
        for name, value in params:
            if name not in FILTER_PARAMS:
                continue
            if name in raw:
                raise InvalidFilter(f"Invalid filter '{name}': the parameter is given more than once")
            raw[name] = value
        values = {name: value for name, value in raw.items() if value != ""}
        for name in _IDENTIFIER_PARAMS:
            if name in values and _IDENTIFIER.fullmatch(values[name]) is None:
                raise InvalidFilter(f"Invalid filter '{name}': {_IDENTIFIER_RULE}")
        outcome = values.get("outcome")
        if outcome is not None and outcome not in OUTCOME_CATEGORIES:
            raise InvalidFilter(f"Invalid filter 'outcome': must be one of {', '.join(OUTCOME_CATEGORIES)}")
        event_type = values.get("event_type")
        if event_type is not None and event_type not in _EVENT_TYPES:
            raise InvalidFilter(f"Invalid filter 'event_type': must be one of {', '.join(_EVENT_TYPES)}")
        return cls(
            namespace=values.get("namespace"),
            action_type=values.get("action_type"),
            outcome=outcome,
            event_type=_EVENT_TYPES[event_type] if event_type is not None else None,
            tenant=values.get("tenant"),
            chain_id=values.get("chain_id"),
            group_id=values.get("group_id"),
            action_id=values.get("action_id"),
        )

    @property
    def is_empty(self) -> bool:
        """No filter given: every visible event matches."""
        return all(getattr(self, spec.name) is None for spec in fields(self))

    def matches(self, event: StreamEvent) -> bool:
        """True when the event passes every given filter (isolation is not checked here)."""
        if self.namespace is not None and event.namespace != self.namespace:
            return False
        if self.tenant is not None and event.tenant != self.tenant:
            return False
        if self.event_type is not None and event.type is not self.event_type:
            return False
        if self.action_type is not None and event.action_type != self.action_type:
            return False
        if self.action_id is not None and event.action_id != self.action_id:
            return False
        if self.outcome is not None and (
            event.type is not EventType.ACTION_DISPATCHED or outcome_category(event) != self.outcome
        ):
            return False
        if self.chain_id is not None and (
            event.type not in _CHAIN_TYPES or event.fields.get("chain_id") != self.chain_id
        ):
            return False
        return self.group_id is None or (
            event.type in _GROUP_TYPES and event.fields.get("group_id") == self.group_id
        )
