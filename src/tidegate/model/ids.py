"""Ids Tidegate creates: UUIDv7 (time-ordered) for actions, events, records; UUIDv4 where unguessable."""

from __future__ import annotations

import uuid

import uuid_utils

__all__ = ["is_uuid", "new_id", "new_secret_id"]


def new_id() -> str:
    """A lowercase hyphenated UUIDv7; monotonic within the process."""
    return str(uuid_utils.uuid7())


def new_secret_id() -> str:
    """A UUIDv4, for ids that appear in links (approvals, JWT jti)."""
    return str(uuid.uuid4())


def is_uuid(text: str) -> bool:
    if len(text) != 36:
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
