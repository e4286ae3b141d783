"""Chain definitions: the config's, read-only, and the API's, kept in the state store (api.md §9).

API definitions are shared by every instance through the store; each instance also keeps a copy of
their names, so the rule loader (which runs in a thread and cannot await the store) can check that a
rule's ``chain`` exists. The copy is read before the rules first load, after every change made here, and
by ``refresh`` on the rules-sync tick, so a definition created on another instance counts for this
instance's next reload within one sync interval."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Literal

import orjson
from pydantic import ValidationError

from tidegate.config.chains import ChainDefinition, chain_provider_problems
from tidegate.config.messages import format_key, translate
from tidegate.errors import Conflict, NotFound, ValidationFailed
from tidegate.model.json import JsonObject, JsonValue
from tidegate.store import keys
from tidegate.store.base import StateStore, scan_values

__all__ = ["ChainDefinitions", "KnownChains", "SourcedDefinition"]

log = logging.getLogger(__name__)

Source = Literal["config", "api"]


@dataclass(frozen=True, slots=True)
class SourcedDefinition:
    definition: ChainDefinition
    source: Source

    def to_json(self) -> JsonObject:
        """The definition as configured (defaults left out), plus ``source``."""
        body: JsonObject = self.definition.model_dump(mode="json", exclude_none=True)
        body["source"] = self.source
        return body


class KnownChains(Collection[str]):
    """A live view of every chain name (config and API): what the rule loader checks ``chain`` against."""

    def __init__(self, names: Callable[[], frozenset[str]]) -> None:
        self._names = names

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names()))

    def __len__(self) -> int:
        return len(self._names())


class ChainDefinitions:
    def __init__(self, config: list[ChainDefinition], store: StateStore, providers: Collection[str]) -> None:
        self._config = {definition.name: definition for definition in config}
        self._store = store
        self._providers = providers
        self._api_names: frozenset[str] = frozenset()
        self.known = KnownChains(lambda: frozenset(self._config) | self._api_names)

    async def refresh(self) -> None:
        """Re-read the API definitions' names (startup, and the rules-sync tick)."""
        self._api_names = frozenset(definition.name for definition in await self._api_definitions())

    async def get(self, name: str) -> SourcedDefinition | None:
        """A config definition wins over an API one of the same name (the API cannot create one)."""
        configured = self._config.get(name)
        if configured is not None:
            return SourcedDefinition(configured, "config")
        raw = await self._store.get(keys.chain_definition(name))
        definition = None if raw is None else _decode(raw)
        return None if definition is None else SourcedDefinition(definition, "api")

    async def listing(self) -> list[SourcedDefinition]:
        found = {name: SourcedDefinition(d, "config") for name, d in self._config.items()}
        for definition in await self._api_definitions():
            found.setdefault(definition.name, SourcedDefinition(definition, "api"))
        return [found[name] for name in sorted(found)]

    def parse(self, name: str, body: JsonValue) -> ChainDefinition:
        """Validate a PUT body: the schema and checks of features.md §16, the providers, and a ``name``
        equal to the path's (422 ``validation_error``, messages naming chain, step and key)."""
        if isinstance(body, dict) and "name" not in body:
            body = {**body, "name": name}
        try:
            definition = ChainDefinition.model_validate(body)
        except ValidationError as exc:
            shown = body.get("name") if isinstance(body, dict) else None
            label = shown if isinstance(shown, str) else name
            issues = translate(exc, ChainDefinition)
            raise _invalid(label, [(list(i.key), _strip(i.message)) for i in issues]) from None
        if definition.name != name:
            raise _invalid(name, [(["name"], f"name: must equal the name in the path ('{name}')")])
        provider_problems = chain_provider_problems(definition, self._providers)
        if provider_problems:
            raise _invalid(
                name, [(list(p.key), f"{format_key(p.key)}: {p.message}") for p in provider_problems]
            )
        return definition

    async def put(self, definition: ChainDefinition) -> bool:
        """Create or replace an API definition; True when created. 409 for a config definition's name."""
        if definition.name in self._config:
            raise Conflict(
                f"chain definition '{definition.name}' comes from the config and cannot be changed"
            )
        key = keys.chain_definition(definition.name)
        value = orjson.dumps(definition.model_dump(mode="json", exclude_none=True))
        while True:
            current = await self._store.get_versioned(key)
            if await self._store.compare_and_set(key, None if current is None else current.version, value):
                self._api_names = self._api_names | {definition.name}
                return current is None

    async def delete(self, name: str, in_use: Collection[str]) -> None:
        """Remove an API definition; 404 unknown, 409 for a config one or one a loaded rule names
        (``in_use``). Running chains keep their snapshot."""
        if name in self._config:
            raise Conflict(f"chain definition '{name}' comes from the config and cannot be deleted")
        if await self.get(name) is None:
            raise NotFound(f"chain definition not found: {name}")
        if name in in_use:
            raise Conflict(f"chain definition '{name}' is used by a loaded rule")
        if not await self._store.delete(keys.chain_definition(name)):
            raise NotFound(f"chain definition not found: {name}")
        self._api_names = self._api_names - {name}

    async def _api_definitions(self) -> list[ChainDefinition]:
        values = scan_values(self._store, keys.chain_definitions_prefix())
        return [d async for value in values if (d := _decode(value)) is not None]


def _strip(message: str) -> str:
    return message.removeprefix("config: ")


def _invalid(chain: str, problems: list[tuple[list[str | int], str]]) -> ValidationFailed:
    detail: list[dict[str, object]] = [
        {"loc": ["body", *loc], "msg": f"chain '{chain}': {text}", "type": "value_error"}
        for loc, text in problems
    ]
    message = str(detail[0]["msg"])
    if len(detail) > 1:
        message += f" (and {len(detail) - 1} more)"
    return ValidationFailed(message, detail)


def _decode(raw: bytes) -> ChainDefinition | None:
    try:
        return ChainDefinition.model_validate(orjson.loads(raw))
    except (ValueError, ValidationError):
        log.error("a chain definition in the state store does not decode; ignored")
        return None
