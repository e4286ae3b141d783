"""Which group an action joins (features.md §13): the ``group_by`` labels and the group key. Pure.

The key hashes namespace, tenant and rule name in with the labels, so two tenants (or two rules) never
share a group even when ``group_by`` leaves them out, and a key reveals nothing about its inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tidegate.model.action import Action
from tidegate.model.json import dumps
from tidegate.rules import key_value, normalize_key_path

__all__ = ["group_key", "group_labels"]


def group_labels(action: Action, group_by: Sequence[str]) -> list[tuple[str, str]]:
    """``(field, value)`` per ``group_by`` path, in rule order: the field written without ``action.``,
    the value as rules.md §9 gives it (absent: ``""``)."""
    return [(normalize_key_path(path), key_value(action, path)) for path in group_by]


def group_key(namespace: str, tenant: str, rule: str, labels: Sequence[tuple[str, str]]) -> str:
    """SHA-256 hex of the compact JSON ``[namespace, tenant, rule, [field, value], ...]``."""
    identity: list[object] = [namespace, tenant, rule, *([name, value] for name, value in labels)]
    return hashlib.sha256(dumps(identity)).hexdigest()
