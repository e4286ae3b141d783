"""Shared values of the chain tests: a start instant, an origin action and a three-step definition."""

from __future__ import annotations

from datetime import UTC, datetime

from tidegate.config.chains import ChainDefinition
from tidegate.model.action import Action

T0 = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)
ORIGIN = Action(
    id="origin-1",
    namespace="research",
    tenant="acme",
    provider="search",
    action_type="research",
    payload={"query": "tidegate"},
    metadata={"team": "ops"},
)


def definition(**first: object) -> ChainDefinition:
    return ChainDefinition.model_validate(
        {
            "name": "research",
            "steps": [
                {"name": "search", "provider": "search", "action_type": "s", **first},
                {"name": "summarize", "provider": "llm", "action_type": "t", "delay_seconds": 5},
                {"name": "email", "provider": "email", "action_type": "u"},
            ],
        }
    )
