"""What one dispatch hands back to its caller (HTTP, batch, internal)."""

from __future__ import annotations

from dataclasses import dataclass

from tidegate.model.action import Action
from tidegate.model.json import JsonObject
from tidegate.model.outcome import Outcome, rest_body

__all__ = ["DispatchResult"]


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """``audit_spooled`` is True when the audit write failed after execution and the record was spooled."""

    action: Action
    outcome: Outcome
    audit_spooled: bool = False

    def body(self) -> JsonObject:
        return rest_body(self.action.id, self.outcome)
