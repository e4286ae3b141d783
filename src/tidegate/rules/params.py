"""The ``action`` mapping of a rule (rules.md §9): the verdict type and its checked parameters.

Every bound of the §9 table is enforced here and every problem is collected with its key path, so the
features that act on a verdict can trust their parameter dataclasses without checking again."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TypeAlias, cast

from tidegate.model.json import JsonValue
from tidegate.model.verdict import (
    AllowParams,
    ApprovalParams,
    ChainParams,
    DedupParams,
    DenyParams,
    GroupParams,
    ModifyParams,
    RerouteParams,
    StateMachineParams,
    SuppressParams,
    ThrottleParams,
    VerdictKind,
    VerdictParams,
)
from tidegate.rules.errors import Problem
from tidegate.rules.paths import PathError, normalize_key_path

__all__ = ["VERDICT_TYPES", "References", "compile_action"]

VERDICT_TYPES: tuple[str, ...] = tuple(kind.value for kind in VerdictKind)
_TYPE_LIST = ", ".join(VERDICT_TYPES)
_UNSUPPORTED_TYPES = ("schedule", "llm_guardrail")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class References:
    """The names rules may refer to: configured providers, state machines and chain definitions."""

    providers: Collection[str]
    state_machines: Collection[str] = frozenset()
    chains: Collection[str] = frozenset()


class _Reader:
    """Reads one ``action`` mapping key by key, recording a problem for each bad value."""

    def __init__(self, raw: Mapping[str, object], refs: References, problems: list[Problem]) -> None:
        self.raw = raw
        self.refs = refs
        self.problems = problems

    def fail(self, key: str, reason: str) -> None:
        self.problems.append((f"action.{key}", reason))

    def integer(self, key: str, low: int, high: int | None, default: int | None) -> int:
        """The value, or ``default`` when absent (``None`` = required); ``low`` stands in after a problem."""
        value = self.raw.get(key, _MISSING)
        if value is _MISSING:
            if default is None:
                self.fail(key, "required")
                return low
            return default
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and low <= value
            and (high is None or value <= high)
        ):
            return value
        if high is None:
            self.fail(key, f"must be an integer of at least {low}")
        else:
            self.fail(key, f"must be an integer between {low} and {high}")
        return low

    def text(self, key: str, max_length: int) -> str | None:
        value = self.raw.get(key)
        if value is None or (isinstance(value, str) and len(value) <= max_length):
            return value
        self.fail(key, f"must be a string of at most {max_length} characters")
        return None

    def name(self, key: str, known: Collection[str], what: str, *, required: bool) -> str | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                self.fail(key, "required")
            return None
        if not isinstance(value, str):
            self.fail(key, "must be a string")
        elif value not in known:
            self.fail(key, f"unknown {what} '{value}'")
        return str(value)

    def key_paths(self, key: str, *, required: bool) -> tuple[str, ...]:
        value = self.raw.get(key, _MISSING)
        if value is _MISSING:
            if required:
                self.fail(key, "required")
            return ()
        if not isinstance(value, list):
            self.fail(key, "must be a list")
            return ()
        if required and not value:
            self.fail(key, "must be a non-empty list")
        paths: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"{key}[{index}]", "must be a string")
                continue
            try:
                paths.append(normalize_key_path(item))
            except PathError as exc:
                self.fail(f"{key}[{index}]", str(exc))
        return tuple(paths)


def _deny(r: _Reader) -> VerdictParams:
    return DenyParams(reason=r.text("reason", 1024))


def _suppress(r: _Reader) -> VerdictParams:
    return SuppressParams(reason=r.text("reason", 1024))


def _dedup(r: _Reader) -> VerdictParams:
    return DedupParams(ttl_seconds=r.integer("ttl_seconds", 1, 31_536_000, 86_400))


def _throttle(r: _Reader) -> VerdictParams:
    return ThrottleParams(
        max_count=r.integer("max_count", 1, None, None),
        window_seconds=r.integer("window_seconds", 1, 86_400, None),
        key_fields=r.key_paths("key_fields", required=False),
        message=r.text("message", 1024),
    )


def _reroute(r: _Reader) -> VerdictParams:
    return RerouteParams(
        target_provider=r.name("target_provider", r.refs.providers, "provider", required=True) or ""
    )


def _modify(r: _Reader) -> VerdictParams:
    changes = r.raw.get("changes", _MISSING)
    if changes is _MISSING:
        r.fail("changes", "required")
    elif changes is None:
        r.fail("changes", "must not be null")
    return ModifyParams(changes=cast(JsonValue, None if changes is _MISSING else changes))


def _group(r: _Reader) -> VerdictParams:
    interval = r.integer("group_interval_seconds", 1, 86_400, 300)
    repeat = None
    if r.raw.get("repeat_interval_seconds") is not None:
        repeat = r.integer("repeat_interval_seconds", interval, 604_800, None)
    return GroupParams(
        group_by=r.key_paths("group_by", required=True),
        group_wait_seconds=r.integer("group_wait_seconds", 0, 86_400, 30),
        group_interval_seconds=interval,
        repeat_interval_seconds=repeat,
        max_group_size=r.integer("max_group_size", 1, 10_000, 100),
        notify_provider=r.name("notify_provider", r.refs.providers, "provider", required=False),
    )


def _state_machine(r: _Reader) -> VerdictParams:
    return StateMachineParams(
        state_machine=r.name("state_machine", r.refs.state_machines, "state machine", required=True) or "",
        fingerprint_fields=r.key_paths("fingerprint_fields", required=False),
    )


def _approval(r: _Reader) -> VerdictParams:
    return ApprovalParams(
        notify_provider=r.name("notify_provider", r.refs.providers, "provider", required=True) or "",
        timeout_seconds=r.integer("timeout_seconds", 60, 604_800, 3_600),
        message=r.text("message", 4096),
    )


def _chain(r: _Reader) -> VerdictParams:
    return ChainParams(chain=r.name("chain", r.refs.chains, "chain", required=True) or "")


_Builder: TypeAlias = Callable[[_Reader], VerdictParams]
_BUILDERS: Mapping[VerdictKind, tuple[frozenset[str], _Builder]] = {
    VerdictKind.ALLOW: (frozenset(), lambda r: AllowParams()),
    VerdictKind.DENY: (frozenset({"reason"}), _deny),
    VerdictKind.SUPPRESS: (frozenset({"reason"}), _suppress),
    VerdictKind.DEDUPLICATE: (frozenset({"ttl_seconds"}), _dedup),
    VerdictKind.THROTTLE: (frozenset({"max_count", "window_seconds", "key_fields", "message"}), _throttle),
    VerdictKind.REROUTE: (frozenset({"target_provider"}), _reroute),
    VerdictKind.MODIFY: (frozenset({"changes"}), _modify),
    VerdictKind.GROUP: (
        frozenset(
            {
                "group_by",
                "group_wait_seconds",
                "group_interval_seconds",
                "repeat_interval_seconds",
                "max_group_size",
                "notify_provider",
            }
        ),
        _group,
    ),
    VerdictKind.STATE_MACHINE: (frozenset({"state_machine", "fingerprint_fields"}), _state_machine),
    VerdictKind.REQUEST_APPROVAL: (frozenset({"notify_provider", "timeout_seconds", "message"}), _approval),
    VerdictKind.CHAIN: (frozenset({"chain"}), _chain),
}


def _kind(raw: Mapping[str, object], problems: list[Problem]) -> VerdictKind | None:
    value = raw.get("type", _MISSING)
    if value is _MISSING:
        problems.append(("action.type", "required"))
    elif not isinstance(value, str):
        problems.append(("action.type", f"must be one of {_TYPE_LIST}"))
    elif value in VERDICT_TYPES:
        return VerdictKind(value)
    elif value in _UNSUPPORTED_TYPES:
        problems.append(
            ("action.type", f"action type '{value}' is not supported; expected one of {_TYPE_LIST}")
        )
    else:
        problems.append(("action.type", f"unknown action type '{value}'; expected one of {_TYPE_LIST}"))
    return None


def compile_action(
    raw: object, refs: References
) -> tuple[tuple[VerdictKind, VerdictParams] | None, list[Problem]]:
    """Check a rule's ``action`` mapping; the result is None exactly when problems were found."""
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        return None, [("action", "must be a mapping")]
    kind = _kind(raw, problems)
    if kind is None:
        return None, problems
    allowed, build = _BUILDERS[kind]
    for key in raw:
        if key == "type" or key in allowed:
            continue
        if kind is VerdictKind.GROUP and key == "template":
            problems.append(("action.template", "group templates are not supported"))
        else:
            problems.append((f"action.{key}", "unknown key"))
    reader = _Reader(raw, refs, problems)
    params = build(reader)
    if problems:
        return None, problems
    return (kind, params), []
