"""Build the configured event log (config.md §4.4) and open it, ready for appends and live delivery.

``local`` (the embedded default, and whenever streaming is off: events are still recorded, nobody can
subscribe) keeps the window in process. ``redis`` and ``postgres`` share one log between instances,
under ``state.key_prefix``, with the state section's pool size and operation timeout."""

from __future__ import annotations

from tidegate.clock import Clock
from tidegate.config import Settings
from tidegate.errors import ConfigError
from tidegate.postgres.names import TableNames
from tidegate.stream.log import EventLog, LocalEventLog
from tidegate.stream.postgres_log import PostgresEventLog
from tidegate.stream.redis_log import RedisEventLog

__all__ = ["open_event_log"]


async def open_event_log(settings: Settings, clock: Clock) -> EventLog:
    """Raises BackendUnavailable when a shared log does not answer, ConfigError without its URL."""
    stream, state = settings.stream, settings.state
    backend = settings.stream_backend if stream.enabled else "local"
    if backend == "local":
        return LocalEventLog(stream.replay_max_events, stream.replay_max_age_seconds, clock.now)
    if stream.url is None:
        raise ConfigError([f"config: stream.url: required when stream.backend is {backend}"])
    if backend == "redis":
        redis = RedisEventLog(
            stream.url,
            clock.now,
            key_prefix=state.key_prefix,
            max_events=stream.replay_max_events,
            max_age_seconds=stream.replay_max_age_seconds,
            pool_size=state.pool_size,
            operation_timeout=state.operation_timeout_seconds,
        )
        try:
            await redis.open()
        except BaseException:
            await redis.close()
            raise
        return redis
    postgres = PostgresEventLog(
        stream.url,
        clock.now,
        names=TableNames(prefix=state.key_prefix),
        max_events=stream.replay_max_events,
        max_age_seconds=stream.replay_max_age_seconds,
        pool_size=state.pool_size,
        operation_timeout=state.operation_timeout_seconds,
    )
    await postgres.open()  # closes its pool itself when it cannot open
    return postgres
