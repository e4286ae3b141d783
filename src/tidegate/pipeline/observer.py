"""What a caller can hear of one dispatch while it runs (the dispatch stream, stream.md §3.4).

``Gateway.dispatch`` takes an optional observer; without one the pipeline pays a single ``None`` check.
The attempt hooks are the executor's ``AttemptObserver``, passed through for this dispatch only."""

from __future__ import annotations

from typing import Protocol

from tidegate.executor.runner import AttemptObserver
from tidegate.model.verdict import Verdict

__all__ = ["DispatchObserver"]


class DispatchObserver(AttemptObserver, Protocol):
    """Hears one dispatch's steps in pipeline order: ``on_decided``, then each attempt (if any)."""

    def on_decided(self, verdict: Verdict, priority: int | None) -> None:
        """The rules decided and every check that answers with an error status passed (provider check,
        audit readiness), so the dispatch will end with an outcome or an internal failure. Called once,
        before any state change; ``priority`` is the deciding rule's (None when no rule matched).
        Synchronous so the pipeline never waits for the observer here."""
