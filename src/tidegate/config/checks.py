"""Cross-checks of config.md §2: rules that join two or more sections.

Each check names the sections it reads, so the loader can still run it when other sections failed, and so
every problem of a broken file is reported in one go. Keys of the problems are absolute."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING

from tidegate.config._base import Problem
from tidegate.config.backends import resolve_stream_backend
from tidegate.config.chains import chain_provider_problems

if TYPE_CHECKING:
    from tidegate.config.settings import Settings

__all__ = ["cross_check"]

Check = Callable[["Settings"], Iterator[Problem]]


def _provider_names(settings: Settings) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, provider in enumerate(settings.providers):
        if provider.name in seen:
            yield Problem(f"duplicate provider name '{provider.name}'", ("providers", index, "name"))
        seen.add(provider.name)


def _breaker_providers(settings: Settings) -> Iterator[Problem]:
    """Overrides name configured providers; fallbacks exist, are not the provider itself, form no cycle."""
    names = {p.name for p in settings.providers}
    links: dict[str, str] = {}
    for name, override in settings.circuit_breaker.providers.items():
        key: tuple[str | int, ...] = ("circuit_breaker", "providers", name)
        if name not in names:
            yield Problem(f"unknown provider '{name}'", key)
        fallback = override.fallback_provider
        if fallback is None:
            continue
        if fallback == name:
            yield Problem("must not be the provider itself", (*key, "fallback_provider"))
        elif fallback not in names:
            yield Problem(f"unknown provider '{fallback}'", (*key, "fallback_provider"))
        else:
            links[name] = fallback
    reported: set[str] = set()
    for start in links:
        path = [start]
        while path[-1] in links and links[path[-1]] not in path:
            path.append(links[path[-1]])
        if path[-1] in links:
            cycle = path[path.index(links[path[-1]]) :]
            if not reported & set(cycle):
                reported |= set(cycle)
                shown = " -> ".join([*cycle, cycle[0]])
                yield Problem(f"fallback cycle {shown}", ("circuit_breaker", "providers"))


def _state_machine_names(settings: Settings) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, machine in enumerate(settings.state_machines):
        if machine.name in seen:
            yield Problem(f"duplicate state machine name '{machine.name}'", ("state_machines", index, "name"))
        seen.add(machine.name)


def _state_machine_providers(settings: Settings) -> Iterator[Problem]:
    names = {p.name for p in settings.providers}
    for index, machine in enumerate(settings.state_machines):
        if machine.notify_provider is not None and machine.notify_provider not in names:
            key = ("state_machines", index, "notify_provider")
            yield Problem(f"unknown provider '{machine.notify_provider}'", key)


def _chain_providers(settings: Settings) -> Iterator[Problem]:
    names = {p.name for p in settings.providers}
    for index, definition in enumerate(settings.chains.definitions):
        for problem in chain_provider_problems(definition, names):
            yield Problem(problem.message, ("chains", "definitions", index, *problem.key))


def _workers(settings: Settings) -> Iterator[Problem]:
    """Several processes must share state, events and audit; SQLite and the local ring are per process."""
    workers = settings.server.workers
    if workers == 1:
        return
    key = ("server", "workers")
    if settings.state.backend not in ("redis", "postgres"):
        yield Problem(
            f"{workers} workers need state.backend redis or postgres (got '{settings.state.backend}')", key
        )
    stream_backend = resolve_stream_backend(settings.stream, settings.state)
    if settings.stream.enabled and stream_backend == "local":
        yield Problem(f"{workers} workers need a shared stream.backend (redis or postgres), not local", key)
    if settings.audit.enabled and settings.audit.backend != "postgres":
        message = f"{workers} workers need audit.backend postgres or audit.enabled = false"
        yield Problem(f"{message} (got '{settings.audit.backend}')", key)


def _audit_url(settings: Settings) -> Iterator[Problem]:
    audit, state = settings.audit, settings.state
    if audit.enabled and audit.backend == "postgres" and audit.url is None and state.backend != "postgres":
        yield Problem("required when audit.backend is postgres (and state.backend is not)", ("audit", "url"))


def _stream_url(settings: Settings) -> Iterator[Problem]:
    stream, state = settings.stream, settings.state
    backend = resolve_stream_backend(stream, state)
    if stream.enabled and backend != "local" and stream.url is None and state.backend != backend:
        yield Problem(
            f"required when stream.backend is {backend} (and state.backend is not)", ("stream", "url")
        )


CHECKS: tuple[tuple[frozenset[str], Check], ...] = (
    (frozenset({"providers"}), _provider_names),
    (frozenset({"providers", "circuit_breaker"}), _breaker_providers),
    (frozenset({"state_machines"}), _state_machine_names),
    (frozenset({"providers", "state_machines"}), _state_machine_providers),
    (frozenset({"providers", "chains"}), _chain_providers),
    (frozenset({"server", "state", "stream", "audit"}), _workers),
    (frozenset({"state", "audit"}), _audit_url),
    (frozenset({"state", "stream"}), _stream_url),
)


def cross_check(settings: Settings, failed: Collection[str] = ()) -> list[Problem]:
    """Every cross-section problem, skipping checks that read a section in ``failed``."""
    problems: list[Problem] = []
    for sections, check in CHECKS:
        if not sections.intersection(failed):
            problems.extend(check(settings))
    return problems
