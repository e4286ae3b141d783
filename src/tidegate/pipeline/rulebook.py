"""The live rule set: loading, atomic reload, runtime toggles kept in the state store (rules.md §11).

Rules themselves are pure (``tidegate.rules``); this module owns the I/O around them: reading the rules
directory, persisting toggles, and swapping in a new ``RuleSet`` with one assignment so an evaluation
never sees a half-loaded set.

Cluster (features.md §20): toggles and a reload generation live in the state store. Each instance keeps a
copy of the toggles, so evaluation never touches the store; ``sync`` (the rules-sync loop, every
``rules.sync_interval_seconds``) re-reads them and reloads this instance's own rule files when another
instance's reload moved the generation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType

import orjson

from tidegate.embeddings import SemanticPending, Semantics
from tidegate.errors import BackendUnavailable
from tidegate.model.action import Action
from tidegate.model.json import JsonObject
from tidegate.model.verdict import Verdict, VerdictKind
from tidegate.rules import RuleFileError, RuleLoadError, RuleSet
from tidegate.store import keys
from tidegate.store.base import StateStore

__all__ = ["RuleBook", "unsupported_verdicts"]

log = logging.getLogger(__name__)

#: ``load(missing_ok)`` reads the rules directory into a RuleSet or raises RuleLoadError.
RuleLoader = Callable[[bool], RuleSet]

_CAS_ATTEMPTS = 50


def unsupported_verdicts(rules: RuleSet, supported: frozenset[VerdictKind]) -> list[RuleFileError]:
    """Rules whose verdict this build cannot carry out fail to load instead of misbehaving at dispatch."""
    return [
        RuleFileError(
            rule.source, f"rule '{rule.name}': action.type: '{rule.kind.value}' is not available yet"
        )
        for rule in rules.rules
        if rule.kind not in supported
    ]


class RuleBook:
    def __init__(
        self,
        *,
        load: RuleLoader,
        store: StateStore,
        supported: frozenset[VerdictKind],
        semantics: Semantics | None = None,
    ) -> None:
        """``semantics`` feeds ``semantic_match`` conditions (None: embeddings disabled, and rules using
        them do not load)."""
        self._load = load
        self._semantics = semantics
        self._store = store
        self._supported = supported
        self._rules = RuleSet()
        self._overrides: Mapping[str, bool] = MappingProxyType({})
        self._generation = 0

    @property
    def rules(self) -> RuleSet:
        return self._rules

    async def start(self) -> None:
        """Startup load: a missing directory means zero rules (warned); any error stops startup."""
        self._swap(await asyncio.to_thread(self._checked_load, True))
        self._generation = await self._stored_generation()  # the files just read are current
        await self.refresh()

    def evaluate(
        self, action: Action, now: datetime, *, start_after: int | None = None, skip_approval: bool = False
    ) -> Verdict:
        """Decide on the loop. Raises SemanticPending when a ``semantic_match`` needs an embedding that is
        not cached: then await ``decide``, which fetches it off the loop."""
        rules = self._rules
        semantics = self._semantics
        return rules.evaluate(
            action,
            now,
            overrides=self._overrides,
            start_after=start_after,
            skip_approval=skip_approval,
            semantic=semantics.cached() if semantics is not None and rules.semantic_topics else None,
        )

    async def decide(
        self, action: Action, now: datetime, *, start_after: int | None = None, skip_approval: bool = False
    ) -> Verdict:
        """``evaluate``, awaiting the embeddings it lacks. BackendUnavailable when the embedding provider
        fails and ``embedding.fail_open`` is false (rules.md §8)."""
        semantics = self._semantics
        try:
            return self.evaluate(action, now, start_after=start_after, skip_approval=skip_approval)
        except SemanticPending:
            if semantics is None:  # unreachable: only a matcher raises it
                raise
        rules, overrides = self._rules, self._overrides
        return await semantics.evaluate(
            lambda matcher: rules.evaluate(
                action,
                now,
                overrides=overrides,
                start_after=start_after,
                skip_approval=skip_approval,
                semantic=matcher,
            )
        )

    def _swap(self, rules: RuleSet) -> None:
        """Put a newly loaded set in force, warn about thresholds its provider cannot reach, then embed its
        ``semantic_match`` topics in the background."""
        self._rules = rules
        if self._semantics is not None and rules.semantic_topics:
            self._semantics.advise(rules.rules)
            self._semantics.embedder.warm(rules.semantic_topics)

    def listing(self) -> list[JsonObject]:
        """GET /v1/rules items in evaluation order, with the effective ``enabled``."""
        overrides = self._overrides
        return [
            {
                "name": rule.name,
                "priority": rule.priority,
                "enabled": overrides.get(rule.name, rule.enabled),
                "description": rule.description,
                "action": rule.kind.value,
                "source": rule.source,
            }
            for rule in self._rules.rules
        ]

    async def reload(self, *, announce: bool = True) -> JsonObject:
        """Re-read the directory; on any error the previous set stays in force unchanged.

        ``announce`` (POST /v1/rules/reload) also moves the cluster's generation so every other instance
        reloads its own files; a state store failure then raises BackendUnavailable before the swap. The
        file watcher reloads this instance only (each instance watches its own directory)."""
        try:
            rules = await asyncio.to_thread(self._checked_load, False)
        except RuleLoadError as exc:
            for error in exc.errors:
                log.error("rules reload: %s: %s", error.file, error.message)
            return {
                "loaded": 0,
                "errors": [{"file": e.file, "message": e.message} for e in exc.errors],
                "applied": False,
            }
        if announce:
            self._generation = await self._store.incr(keys.rules_generation())
        self._swap(rules)
        log.info("rules reloaded: %d rules", len(rules.rules))
        return {"loaded": len(rules.rules), "errors": [], "applied": True}

    async def set_enabled(self, name: str, enabled: bool) -> bool:
        """Store the toggle cluster-wide (compare-and-set); False when no rule has that name."""
        if self._rules.find(name) is None:
            return False
        key = keys.rule_toggles()
        for _ in range(_CAS_ATTEMPTS):
            current = await self._store.get_versioned(key)
            toggles = _decode(current.value) if current else {}
            toggles[name] = enabled
            if await self._store.compare_and_set(
                key, current.version if current else None, orjson.dumps(toggles)
            ):
                self._overrides = MappingProxyType(toggles)
                return True
        raise RuntimeError("rule toggle kept conflicting")

    async def refresh(self) -> None:
        """Pick up toggles written by other instances (and at startup, those that survived a restart),
        and reload the rule files when another instance reloaded since the last look."""
        raw = await self._store.get(keys.rule_toggles())
        self._overrides = MappingProxyType(_decode(raw) if raw else {})
        generation = await self._stored_generation()
        if generation == self._generation:
            return
        try:
            rules = await asyncio.to_thread(self._checked_load, False)
        except RuleLoadError as exc:
            for error in exc.errors:
                log.error("rules sync reload: %s: %s", error.file, error.message)
        else:
            self._swap(rules)
            log.info("rules reloaded after another instance did: %d rules", len(rules.rules))
        self._generation = generation  # a bad file is reported once, not on every tick

    async def sync(self) -> None:
        """The rules-sync loop's tick: ``refresh``, riding out a state store outage (the copy in hand
        stays in force; the next tick tries again)."""
        try:
            await self.refresh()
        except BackendUnavailable as exc:
            log.warning("rules sync: %s", exc)

    async def _stored_generation(self) -> int:
        raw = await self._store.get(keys.rules_generation())
        return int(raw) if raw is not None else 0

    def _checked_load(self, missing_ok: bool) -> RuleSet:
        rules = self._load(missing_ok)
        problems = unsupported_verdicts(rules, self._supported)
        if problems:
            raise RuleLoadError(problems)
        return rules


def _decode(raw: bytes) -> dict[str, bool]:
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        return {}
    return {str(k): bool(v) for k, v in data.items()}
