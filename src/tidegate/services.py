"""Build and tear down everything the app runs on, from ``Settings`` (the composition root below HTTP).

``api/app.py`` calls ``open_services`` in its lifespan; tests and the benchmark call it directly. Order
matters: stores first, then rules (toggles live in the store), then the gateway, then background loops;
shutdown runs in reverse."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from tidegate.approvals import Approvals
from tidegate.audit.base import AuditStore
from tidegate.audit.factory import open_audit_store
from tidegate.audit.redact import Redactor
from tidegate.audit.spool import AuditSpool
from tidegate.breakers import Breakers
from tidegate.chains.service import Chains
from tidegate.chains.watch import ExecutionWatch
from tidegate.clock import Clock, SystemClock
from tidegate.config import Settings
from tidegate.embeddings import Embedder, Semantics, open_embedder
from tidegate.errors import BackendUnavailable, ConfigError
from tidegate.executor.runner import Executor
from tidegate.groups import EventGroups
from tidegate.metrics import Metrics
from tidegate.model.ids import new_id
from tidegate.model.verdict import StateMachineParams, VerdictKind
from tidegate.pipeline.gateway import HANDLED_VERDICTS, FeatureHandler, Gateway
from tidegate.pipeline.joint import joint_write
from tidegate.pipeline.recorder import Recorder
from tidegate.pipeline.rulebook import RuleBook
from tidegate.providers import new_http_client
from tidegate.providers.registry import ProviderRegistry, build_registry
from tidegate.recurring import RecurringActions
from tidegate.rules import RuleLoadError, RuleSet, load_rules
from tidegate.security import Authenticator, open_authenticator
from tidegate.security.rate_limiter import RateLimiter
from tidegate.state_machines import StateMachines
from tidegate.store.base import StateStore
from tidegate.store.factory import open_state_store
from tidegate.stream.broadcaster import Broadcaster
from tidegate.stream.connections import ConnectionSlots
from tidegate.stream.factory import open_event_log
from tidegate.stream.log import EventLog, LocalEventLog
from tidegate.stream.shared_slots import StoreConnectionSlots, connection_slots_for
from tidegate.stream.spool import EventSpool
from tidegate.workers.auth_watch import AuthFileWatcher
from tidegate.workers.rules_watch import RulesWatcher
from tidegate.workers.supervisor import Loop, Supervisor
from tidegate.workers.timers import Timers

__all__ = ["Services", "close_services", "open_services"]

log = logging.getLogger(__name__)

_PROBE_TIMEOUT = 2.0


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: StateStore
    audit: AuditStore | None
    events: EventLog
    broadcaster: Broadcaster
    connections: ConnectionSlots  # cluster-wide with redis/postgres state (stream.md §0.6)
    metrics: Metrics
    providers: ProviderRegistry
    executor: Executor
    rulebook: RuleBook
    gateway: Gateway
    supervisor: Supervisor
    spool: AuditSpool | None
    http: httpx.AsyncClient
    rate_limiter: RateLimiter  # caller, tenant and fixed per-route limits, counted in ``store``
    timers: Timers  # every feature's due work, fired once cluster-wide (workers/timers.py)
    groups: EventGroups  # event groups, their flushes and notifications (features.md §13)
    state_machines: StateMachines  # event states, their moves and timeouts (features.md §14)
    approvals: Approvals  # held actions, signed links, decisions and expiry (features.md §15)
    recurring: RecurringActions  # cron-scheduled actions, fired once cluster-wide (features.md §17)
    chains: Chains  # chain definitions, runs with their history, and the step worker (features.md §16)
    execution_watch: ExecutionWatch  # wakes per-execution streams when a chain run changes (stream.md §2)
    event_spool: EventSpool | None = None  # with a shared event log: events whose append failed
    auth: Authenticator | None = None  # None: authentication is disabled (every caller is anonymous)
    breakers: Breakers | None = None  # None: circuit breakers are disabled (features.md §10)
    embedder: Embedder | None = None  # None: embeddings are disabled (features.md §18)
    _closed: bool = field(default=False, repr=False)

    def drain_streams(self) -> None:
        """End every open stream normally (SIGTERM, shutdown); clients resume with ``Last-Event-ID``."""
        self.broadcaster.close()
        self.execution_watch.close()

    async def probe(self) -> list[str]:
        """Failing parts, in the fixed order of api.md §2 (empty when healthy); each probe bounded to 2 s."""
        parts: list[tuple[str, object]] = [
            ("state_store", self.store),
            ("audit_store", self.audit),
            ("event_log", self.events),
        ]
        present = [(name, part) for name, part in parts if part is not None]
        answered = await asyncio.gather(*(_answers(part) for _, part in present))  # at once: 2 s in all
        return [name for (name, _), ok in zip(present, answered, strict=True) if not ok]


async def _answers(part: object) -> bool:
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT):
            await part.ping()  # type: ignore[attr-defined]
    except (TimeoutError, BackendUnavailable, OSError):
        return False
    return True


def _rule_loader(settings: Settings, chains: Collection[str]) -> partial[RuleSet]:
    """``chains``: every chain name rules may use, the config's and the API's (a live view)."""
    return partial(
        _load_rules,
        directory=Path(settings.rules.directory),
        providers=frozenset(p.name for p in settings.providers),
        state_machines=frozenset(m.name for m in settings.state_machines),
        chains=chains,
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
    try:
        auth = open_authenticator(settings.auth, store, clock)
    except ConfigError:
        await store.close()
        raise
    spool = (
        AuditSpool(Path(settings.audit.path).parent / "audit-spool.jsonl") if settings.audit.enabled else None
    )
    audit = await open_audit_store(settings.audit, clock, spool=spool, shared=settings.state)
    metrics = Metrics()
    try:
        events = await open_event_log(settings, clock)
    except BaseException:
        await _close_quietly(store, audit, None)
        raise
    event_spool = (
        None
        if isinstance(events, LocalEventLog)  # never refuses an append
        else EventSpool(Path(settings.audit.path).parent / "events-spool.jsonl")
    )
    broadcaster = Broadcaster(events, on_lagged=metrics.stream_lagged.inc)
    # Chain progress on any instance reaches this one's per-execution streams through the log.
    execution_watch = ExecutionWatch()
    events.add_listener(execution_watch.on_log_entry, execution_watch.notify_all)
    redact = Redactor(settings.audit.redact_fields, settings.audit.redact_placeholder)
    http = new_http_client()
    providers = build_registry(
        settings.providers, http, redact, default_timeout=settings.executor.timeout_seconds
    )
    executor = Executor(providers, settings.executor, record_attempt=metrics.record_attempt)
    timers = Timers(
        store,
        clock,
        owner=new_id(),
        lease_seconds=settings.background.lease_seconds,
        wake=settings.background.enabled,
    )
    # The stateful features' verdict handlers (groups, state machines, approvals, chains); a rule using a
    # verdict no handler serves fails to load.
    features: dict[VerdictKind, FeatureHandler] = {}
    groups = EventGroups(store, clock, timers, lease_seconds=settings.background.lease_seconds)
    features[VerdictKind.GROUP] = groups.handle
    state_machines = StateMachines(settings.state_machines, store, timers, clock)
    features[VerdictKind.STATE_MACHINE] = state_machines.on_verdict
    approvals = Approvals(
        settings=settings.approvals,
        store=store,
        executor=executor,
        timers=timers,
        clock=clock,
        base_url=settings.server.effective_external_url,
    )
    features[VerdictKind.REQUEST_APPROVAL] = approvals.request
    recurring = RecurringActions(settings.recurring, store, timers, clock)
    chains = Chains(
        settings=settings.chains,
        background=settings.background,
        providers=frozenset(providers.names()),
        store=store,
        timers=timers,
        clock=clock,
        executor=executor,
        watch=execution_watch,
    )
    features[VerdictKind.CHAIN] = chains.handle
    try:
        embedder = await open_embedder(settings.embedding, http, clock)  # before rules: they warm its cache
    except ConfigError:
        await _close_quietly(store, audit, http)
        await events.close()
        raise
    semantics = Semantics(embedder, fail_open=settings.embedding.fail_open, clock=clock) if embedder else None
    rulebook = RuleBook(
        load=_rule_loader(settings, chains.definitions.known),
        store=store,
        supported=HANDLED_VERDICTS | frozenset(features),
        semantics=semantics,
    )
    try:
        await chains.start()  # API definitions first: rules may name them
        await rulebook.start()
    except RuleLoadError as exc:
        if embedder is not None:
            await embedder.close()
        await _close_quietly(store, audit, http)
        await events.close()
        raise ConfigError([f"rules: {e.file}: {e.message}" for e in exc.errors]) from exc
    if not settings.background.enabled:
        _warn_without_workers(rulebook.rules, settings)
    await approvals.start()  # signing keys: from config, else the generated one in the store
    recorder = Recorder(
        audit=audit,
        events=events,
        metrics=metrics,
        clock=clock,
        redact=redact,
        store_payload=settings.audit.store_payload,
        retention_days=settings.audit.retention_days,
        spool=spool,
        event_spool=event_spool,
        overlap=not isinstance(events, LocalEventLog),  # a shared log's append is a round trip of its own
        joint=joint_write(audit, events),
    )
    breakers = (
        Breakers(settings.circuit_breaker, providers.names(), store, clock)
        if settings.circuit_breaker.enabled
        else None
    )
    gateway = Gateway(
        rulebook=rulebook,
        store=store,
        executor=executor,
        providers=providers.__contains__,
        recorder=recorder,
        clock=clock,
        max_in_flight=settings.server.max_in_flight_dispatches,
        features=features,
        breakers=breakers,
    )
    groups.attach(gateway, recorder)
    state_machines.attach(gateway, recorder)
    approvals.attach(gateway, recorder)
    recurring.attach(gateway)
    chains.attach(recorder, breakers)
    services = Services(
        settings=settings,
        clock=clock,
        store=store,
        audit=audit,
        events=events,
        broadcaster=broadcaster,
        connections=connection_slots_for(
            settings.state.backend, store, clock, settings.stream.keep_alive_seconds
        ),
        metrics=metrics,
        providers=providers,
        executor=executor,
        rulebook=rulebook,
        gateway=gateway,
        supervisor=Supervisor(),
        spool=spool,
        http=http,
        rate_limiter=RateLimiter(settings.rate_limit, store),
        timers=timers,
        groups=groups,
        state_machines=state_machines,
        approvals=approvals,
        recurring=recurring,
        chains=chains,
        execution_watch=execution_watch,
        event_spool=event_spool,
        auth=auth,
        breakers=breakers,
        embedder=embedder,
    )
    _add_loops(services)
    if start_workers:
        services.supervisor.start()
    return services


def _add_loops(services: Services) -> None:
    settings, supervisor = services.settings, services.supervisor
    if settings.rules.watch:
        watcher = RulesWatcher(
            Path(settings.rules.directory), partial(services.rulebook.reload, announce=False)
        )
        supervisor.add(Loop("rules-watch", 0.25, watcher.tick))
    supervisor.add(Loop("rules-sync", settings.rules.sync_interval_seconds, services.rulebook.sync))

    async def sync_chain_definitions() -> None:  # API definitions made elsewhere count for rule reloads
        try:
            await services.chains.definitions.refresh()
        except BackendUnavailable as exc:
            log.warning("chain definitions sync: %s", exc)

    sync_interval = settings.rules.sync_interval_seconds
    supervisor.add(Loop("chain-definitions-sync", sync_interval, sync_chain_definitions))
    if settings.background.enabled:
        supervisor.add(Loop("timers", settings.background.poll_interval_seconds, services.timers.tick))
    supervisor.add(Loop("doubtful-claims", 0.5, services.gateway.doubtful_claims.sweep))  # features.md §3
    connections = services.connections
    if isinstance(connections, StoreConnectionSlots):  # shared slots lapse unless renewed (stream.md §0.6)
        supervisor.add(Loop("sse-slot-renewal", settings.stream.keep_alive_seconds, connections.renew))
    if services.auth is not None and settings.auth.watch:
        auth_file = services.auth.auth_file
        supervisor.add(Loop("auth-watch", 0.25, AuthFileWatcher(auth_file.path, auth_file.reload).tick))
    event_spool = services.event_spool
    if event_spool is not None:  # part of the dispatch path (features.md §11), not optional background

        async def replay_events() -> None:
            if event_spool.holds_events:
                try:
                    replayed = await event_spool.replay(services.events)
                except BackendUnavailable:
                    return  # still down: the next tick retries
                log.info("event spool: appended %d events", replayed)

        supervisor.add(Loop("event-spool-replay", 1.0, replay_events))
    if not settings.background.enabled:
        return

    async def sweep() -> None:
        await services.store.sweep(services.clock.now())

    supervisor.add(Loop("state-sweep", settings.state.sweep_interval_seconds, sweep))
    events = services.events
    if isinstance(events, LocalEventLog):  # shared logs trim themselves, from their tail task

        async def trim_events() -> None:
            events.trim()

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


def timed_features(rules: RuleSet, settings: Settings) -> list[str]:
    """The features the rules use whose work waits for a timer, which only instances with workers fire."""
    timed_machines = {m.name for m in settings.state_machines if m.timeouts}
    used: dict[str, None] = {}
    for rule in rules:
        params = rule.params
        if rule.kind is VerdictKind.GROUP:
            used["groups"] = None
        elif rule.kind is VerdictKind.REQUEST_APPROVAL:
            used["approvals"] = None
        elif rule.kind is VerdictKind.CHAIN:
            used["chains"] = None
        elif isinstance(params, StateMachineParams) and params.state_machine in timed_machines:
            used["state machine timeouts"] = None
    return list(used)


def _warn_without_workers(rules: RuleSet, settings: Settings) -> None:
    """features.md §19: with no workers on this instance, say what will only fire elsewhere."""
    features = timed_features(rules, settings)
    if features:
        log.warning(
            "background.enabled is false on this instance, but the rules use %s: their timers fire only "
            "on instances with background workers; if no instance runs them, nothing fires",
            ", ".join(features),
        )


async def close_services(services: Services) -> None:
    """Stop loops, then flush and close stores (reverse of opening). Idempotent."""
    if services._closed:
        return
    services._closed = True
    services.drain_streams()  # open streams end normally; clients resume with Last-Event-ID
    await services.supervisor.stop()
    services.timers.close()
    await services.groups.drain(services.settings.server.shutdown_timeout_seconds)
    await services.state_machines.drain(services.settings.server.shutdown_timeout_seconds)
    await services.chains.drain(services.settings.server.shutdown_timeout_seconds)
    await services.connections.close()  # before the store: other instances get the slots back at once
    await services.providers.close()
    if services.embedder is not None:
        await services.embedder.close()
    await _close_quietly(services.store, services.audit, services.http)
    await services.events.close()


async def _close_quietly(store: StateStore, audit: AuditStore | None, http: httpx.AsyncClient | None) -> None:
    for closer in (audit.close if audit else None, store.close, http.aclose if http else None):
        if closer is None:
            continue
        try:
            await closer()
        except Exception:
            log.exception("error while closing")
