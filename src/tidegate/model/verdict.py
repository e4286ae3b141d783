"""What the rules decided for one action (rules.md §3, §9): the tag, the deciding rule and its parameters."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from tidegate.model.action import Action
from tidegate.model.json import JsonValue

__all__ = [
    "AllowParams",
    "ApprovalParams",
    "ChainParams",
    "DedupParams",
    "DenyParams",
    "GroupParams",
    "ModifyParams",
    "RerouteParams",
    "StateMachineParams",
    "SuppressParams",
    "ThrottleParams",
    "Verdict",
    "VerdictKind",
    "VerdictParams",
]


class VerdictKind(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    SUPPRESS = "suppress"
    DEDUPLICATE = "deduplicate"
    THROTTLE = "throttle"
    REROUTE = "reroute"
    MODIFY = "modify"
    GROUP = "group"
    STATE_MACHINE = "state_machine"
    REQUEST_APPROVAL = "request_approval"
    CHAIN = "chain"


@dataclass(frozen=True, slots=True)
class AllowParams:
    pass


@dataclass(frozen=True, slots=True)
class DenyParams:
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SuppressParams:
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DedupParams:
    ttl_seconds: int = 86400


@dataclass(frozen=True, slots=True)
class ThrottleParams:
    max_count: int
    window_seconds: int
    key_fields: tuple[str, ...] = ()  # normalized key paths, without the ``action.`` prefix
    message: str | None = None


@dataclass(frozen=True, slots=True)
class RerouteParams:
    target_provider: str


@dataclass(frozen=True, slots=True)
class ModifyParams:
    changes: JsonValue


@dataclass(frozen=True, slots=True)
class GroupParams:
    group_by: tuple[str, ...]
    group_wait_seconds: int = 30
    group_interval_seconds: int = 300
    repeat_interval_seconds: int | None = None
    max_group_size: int = 100
    notify_provider: str | None = None


@dataclass(frozen=True, slots=True)
class StateMachineParams:
    state_machine: str
    fingerprint_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ApprovalParams:
    notify_provider: str
    timeout_seconds: int = 3600
    message: str | None = None


@dataclass(frozen=True, slots=True)
class ChainParams:
    chain: str


VerdictParams: TypeAlias = (
    AllowParams
    | DenyParams
    | SuppressParams
    | DedupParams
    | ThrottleParams
    | RerouteParams
    | ModifyParams
    | GroupParams
    | StateMachineParams
    | ApprovalParams
    | ChainParams
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of one evaluation.

    ``action`` is the action after every applied modify patch; ``matched_rule`` is ``None`` only when no
    rule matched; ``position`` is the deciding rule's index in evaluation order (approvals resume
    after it)."""

    kind: VerdictKind
    matched_rule: str | None
    action: Action
    params: VerdictParams
    modified_by: tuple[str, ...] = ()
    position: int | None = None
