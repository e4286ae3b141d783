"""The users and API keys of the auth file as one immutable index (security.md §2).

An ``Identities`` value never changes: a reload builds a new one and swaps the reference, so a request
sees either the old tables or the new ones, never a mix. API keys are indexed by their SHA-256 digest:
a presented key is hashed once and found in O(1), then compared with ``hmac.compare_digest``. A fast
hash is enough because generated keys carry 256 random bits; argon2 on every request would cost tens of
milliseconds of CPU."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from tidegate.model.caller import AuthMethod, Caller, Grant, Role

__all__ = [
    "KEY_HASH_PREFIX",
    "ApiKey",
    "Identities",
    "User",
    "format_key_hash",
    "hash_api_key",
    "parse_key_hash",
]

#: The stored form of a key hash: ``sha256:<64 hex>`` (bare 64 lowercase hex is Acteon's form).
KEY_HASH_PREFIX = "sha256:"
_HEX_DIGITS = frozenset("0123456789abcdef")


def hash_api_key(key: str) -> bytes:
    """The SHA-256 digest of a presented key (its UTF-8 bytes)."""
    return hashlib.sha256(key.encode()).digest()


def format_key_hash(digest: bytes) -> str:
    return KEY_HASH_PREFIX + digest.hex()


def parse_key_hash(text: str) -> bytes | None:
    """The digest of ``sha256:<hex>`` or bare lowercase hex (64 digits), else None."""
    hex_text = text.removeprefix(KEY_HASH_PREFIX)
    if len(hex_text) != 64 or not _HEX_DIGITS.issuperset(hex_text):
        return None
    return bytes.fromhex(hex_text)


@dataclass(frozen=True, slots=True)
class User:
    """A user who logs in with a password; ``grants`` are resolved (an admin without any holds ``*``)."""

    username: str
    password_hash: str
    role: Role
    grants: tuple[Grant, ...]

    def caller(self, session: str) -> Caller:
        return Caller(self.username, AuthMethod.JWT, self.role, self.grants, session)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key known only by its digest; ``name`` is the caller id."""

    name: str
    digest: bytes
    role: Role
    grants: tuple[Grant, ...]
    expires_at: datetime | None = None

    def has_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def caller(self) -> Caller:
        return Caller(self.name, AuthMethod.API_KEY, self.role, self.grants)


class Identities:
    """Users by username and keys by digest; read-only once built."""

    __slots__ = ("_keys", "_users")

    def __init__(self, users: Iterable[User] = (), keys: Iterable[ApiKey] = ()) -> None:
        self._users: Mapping[str, User] = MappingProxyType({user.username: user for user in users})
        self._keys: Mapping[bytes, ApiKey] = MappingProxyType({key.digest: key for key in keys})

    @property
    def user_count(self) -> int:
        return len(self._users)

    @property
    def key_count(self) -> int:
        return len(self._keys)

    def user(self, username: str) -> User | None:
        return self._users.get(username)

    def key(self, presented: str) -> ApiKey | None:
        """The key whose digest equals the presented key's digest, or None."""
        digest = hash_api_key(presented)
        found = self._keys.get(digest)
        if found is None or not hmac.compare_digest(found.digest, digest):
            return None
        return found
