"""Build and tear down everything the app runs on, from ``Settings`` (the composition root below HTTP).

``api/app.py`` calls ``open_services`` in its lifespan; tests and the benchmark call it directly. Order
matters: stores first, then rules (toggles live in the store), then the gateway, then background loops;
shutdown runs in reverse."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from tidegate.audit.base import AuditStore
from tidegate.audit.factory import open_audit_store
from tidegate.audit.redact import Redactor
from tidegate.audit.spool import AuditSpool
from tidegate.clock import Clock, SystemClock
from tidegate.config import Settings
from tidegate.errors import BackendUnavailable, ConfigError
from tidegate.executor.runner import Executor
from tidegate.metrics import Metrics
from tidegate.pipeline.gateway import HANDLED_VERDICTS, Gateway
from tidegate.pipeline.recorder import Recorder
from tidegate.pipeline.rulebook import RuleBook
from tidegate.providers import new_http_client
from tidegate.providers.registry import ProviderRegistry, build_registry
from tidegate.rules import RuleLoadError, RuleSet, load_rules
from tidegate.store.base import StateStore
from tidegate.store.factory import open_state_store
from tidegate.stream.log import LocalEventLog
from tidegate.workers.rules_watch import RulesWatcher
from tidegate.workers.supervisor import Loop, Supervisor

__all__ = ["Services", "close_services", "open_services"]

log = logging.getLogger(__name__)

_PROBE_TIMEOUT = 2.0


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: StateStore
    audit: AuditStore | None
    events: LocalEventLog
    metrics: Metrics
    providers: ProviderRegistry
    executor: Executor
    rulebook: RuleBook
    gateway: Gateway
    supervisor: Supervisor
    spool: AuditSpool | None
    http: httpx.AsyncClient
    _closed: bool = field(default=False, repr=False)

    async def probe(self) -> list[str]:
        """Failing parts, in the fixed order of api.md §2 (empty when healthy); each probe bounded to 2 s."""
        parts: list[tuple[str, object]] = [
            ("state_store", self.store),
            ("audit_store", self.audit),
            ("event_log", self.events),
        ]
        failing = []
        for name, part in parts:
            if part is None:
                continue
            try:
                async with asyncio.timeout(_PROBE_TIMEOUT):
                    await part.ping()  # type: ignore[attr-defined]
            except (TimeoutError, BackendUnavailable, OSError):
                failing.append(name)
        return failing


def _rule_loader(settings: Settings) -> partial[RuleSet]:
    return partial(
        _load_rules,
        directory=Path(settings.rules.directory),
        providers=frozenset(p.name for p in settings.providers),
        state_machines=frozenset(m.name for m in settings.state_machines),
        chains=frozenset(c.name for c in settings.chains.definitions),
        embedding_enabled=settings.embedding.enabled,
        default_timezone=settings.rules.default_timezone,
    )


def _load_rules(missing_ok: bool, **kwargs: object) -> RuleSet:
    directory = kwargs["directory"]
    if missing_ok and isinstance(directory, Path) and not directory.is_dir():
        log.warning(
            "rules directory %s not found: running with zero rules (every action is allowed)", directory
        )
    return load_rules(missing_ok=missing_ok, **kwargs)  # type: ignore[arg-type]


async def open_services(
    settings: Settings, clock: Clock | None = None, *, start_workers: bool = True
) -> Services:
    """Open stores, load rules and build the gateway. Raises ConfigError when the rules do not load."""
    clock = clock or SystemClock()
    store = await open_state_store(settings.state, clock)
    spool = (
        AuditSpool(Path(settings.audit.path).parent / "audit-spool.jsonl") if settings.audit.enabled else None
    )
    audit = await open_audit_store(settings.audit, clock, spool=spool)
    metrics = Metrics()
    events = LocalEventLog(
        settings.stream.replay_max_events, settings.stream.replay_max_age_seconds, clock.now
    )
    redact = Redactor(settings.audit.redact_fields, settings.audit.redact_placeholder)
    http = new_http_client()
    providers = build_registry(
        settings.providers, http, redact, default_timeout=settings.executor.timeout_seconds
    )
    executor = Executor(providers, settings.executor, record_attempt=metrics.record_attempt)
    rulebook = RuleBook(load=_rule_loader(settings), store=store, supported=HANDLED_VERDICTS)
    try:
        await rulebook.start()
    except RuleLoadError as exc:
        await _close_quietly(store, audit, http)
        raise ConfigError([f"rules: {e.file}: {e.message}" for e in exc.errors]) from exc
    recorder = Recorder(
        audit=audit,
        events=events,
        metrics=metrics,
        clock=clock,
        redact=redact,
        store_payload=settings.audit.store_payload,
        retention_days=settings.audit.retention_days,
        spool=spool,
    )
    gateway = Gateway(
        rulebook=rulebook,
        store=store,
        executor=executor,
        providers=providers.__contains__,
        recorder=recorder,
        clock=clock,
        max_in_flight=settings.server.max_in_flight_dispatches,
    )
    services = Services(
        settings=settings,
        clock=clock,
        store=store,
        audit=audit,
        events=events,
        metrics=metrics,
        providers=providers,
        executor=executor,
        rulebook=rulebook,
        gateway=gateway,
        supervisor=Supervisor(),
        spool=spool,
        http=http,
    )
    _add_loops(services)
    if start_workers:
        services.supervisor.start()
    return services


def _add_loops(services: Services) -> None:
    settings, supervisor = services.settings, services.supervisor
    if settings.rules.watch:
        watcher = RulesWatcher(Path(settings.rules.directory), services.rulebook.reload)
        supervisor.add(Loop("rules-watch", 0.25, watcher.tick))
    supervisor.add(Loop("rules-sync", settings.rules.sync_interval_seconds, services.rulebook.refresh))
    if not settings.background.enabled:
        return

    async def sweep() -> None:
        await services.store.sweep(services.clock.now())

    async def trim_events() -> None:
        services.events.trim()

    supervisor.add(Loop("state-sweep", settings.state.sweep_interval_seconds, sweep))
    supervisor.add(Loop("event-log-trim", 60.0, trim_events))
    audit, spool = services.audit, services.spool
    if audit is not None:

        async def purge() -> None:
            deleted = await audit.purge(services.clock.now())
            if deleted:
                log.info("audit retention: deleted %d records", deleted)

        supervisor.add(Loop("audit-retention", settings.audit.cleanup_interval_seconds, purge))
    if audit is not None and spool is not None:

        async def replay() -> None:
            replayed = await spool.replay(audit)
            if replayed:
                log.info("audit spool: replayed %d records", replayed)

        supervisor.add(Loop("audit-spool-replay", 5.0, replay))


async def close_services(services: Services) -> None:
    """Stop loops, then flush and close stores (reverse of opening). Idempotent."""
    if services._closed:
        return
    services._closed = True
    await services.supervisor.stop()
    await services.providers.close()
    await _close_quietly(services.store, services.audit, services.http)
    await services.events.close()


async def _close_quietly(store: StateStore, audit: AuditStore | None, http: httpx.AsyncClient) -> None:
    for closer in (audit.close if audit else None, store.close, http.aclose):
        if closer is None:
            continue
        try:
            await closer()
        except Exception:
            log.exception("error while closing")
