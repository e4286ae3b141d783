"""The ``log`` provider: one log line per action, payload redacted (features.md §8.1).

It is the benchmark's provider, so a disabled level costs one ``isEnabledFor`` check: nothing is
redacted or encoded unless the line will be written."""

from __future__ import annotations

import logging
from collections.abc import Callable

from tidegate.errors import ConfigError
from tidegate.model.action import Action
from tidegate.model.json import JsonValue, dumps
from tidegate.model.outcome import ProviderResponse

__all__ = ["LOG_LEVELS", "LogProvider"]

logger = logging.getLogger(__name__)

#: The configurable levels (config.md §4.6).
LOG_LEVELS: dict[str, int] = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


class LogProvider:
    """Logs the action on ``tidegate.providers.log`` and always succeeds."""

    def __init__(
        self, name: str, redact: Callable[[JsonValue], JsonValue], level: str | int = "info"
    ) -> None:
        self._name = name
        self._redact = redact
        if isinstance(level, str) and level not in LOG_LEVELS:
            raise ConfigError([f"providers.{name}.level: must be one of {', '.join(LOG_LEVELS)}"])
        self._level = LOG_LEVELS[level] if isinstance(level, str) else level

    @property
    def name(self) -> str:
        return self._name

    async def execute(self, action: Action, attempt: int) -> ProviderResponse:
        if logger.isEnabledFor(self._level):
            payload = dumps(self._redact(action.payload)).decode()
            logger.log(
                self._level,
                "action %s namespace=%s tenant=%s provider=%s action_type=%s payload=%s",
                action.id,
                action.namespace,
                action.tenant,
                self._name,
                action.action_type,
                payload,
                extra={
                    "action_id": action.id,
                    "namespace": action.namespace,
                    "tenant": action.tenant,
                    "provider": self._name,
                    "action_type": action.action_type,
                },
            )
        return ProviderResponse("success", {"provider": self._name, "logged": True}, {})

    async def close(self) -> None:
        return None
