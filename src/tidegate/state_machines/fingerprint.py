"""Which event an action belongs to (features.md §14 "Fingerprint"). Pure."""

from __future__ import annotations

from collections.abc import Sequence

from tidegate.errors import InvalidInput
from tidegate.model.action import Action
from tidegate.rules import compile_key_path, key_hash

__all__ = ["fingerprint_of"]


def fingerprint_of(action: Action, fingerprint_fields: Sequence[str]) -> str:
    """The action's ``fingerprint``, else the SHA-256 hex of its ``[[field, value], ...]``.

    Raises InvalidInput (400 "fingerprint required") when neither gives one: Acteon put every such action
    on one shared fingerprint, silently merging unrelated events."""
    if action.fingerprint is not None:
        return action.fingerprint
    if any(compile_key_path(path)[1](action) is not None for path in fingerprint_fields):
        return key_hash(action, fingerprint_fields)
    raise InvalidInput("fingerprint required")
