"""Run actions on providers: timeouts, retries with backoff and concurrency caps."""

from tidegate.executor.retry import backoff_delay
from tidegate.executor.runner import (
    AttemptObserver,
    ExecutionResult,
    Executor,
    ExecutorConfig,
    ProviderLookup,
    RecordAttempt,
)

__all__ = [
    "AttemptObserver",
    "ExecutionResult",
    "Executor",
    "ExecutorConfig",
    "ProviderLookup",
    "RecordAttempt",
    "backoff_delay",
]
