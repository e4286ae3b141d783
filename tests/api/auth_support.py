"""Servers with authentication on: an auth file in a temporary directory, known users, keys and secrets.

Test users' password hashes use tiny argon2 parameters (verification in about a millisecond); the
server verifies with whatever parameters a hash carries, so the code path is the production one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import jwt
import yaml
from argon2 import PasswordHasher

from tidegate.config import Settings
from tidegate.security.identities import format_key_hash, hash_api_key

from .conftest import make_settings

__all__ = [
    "JWT_SECRET",
    "PASSWORD",
    "Identity",
    "auth_settings",
    "bearer",
    "expired_token",
    "fast_hash",
    "login",
    "write_auth_file",
]

JWT_SECRET = "test-secret-test-secret-test-secret-0123"
PASSWORD = "correct horse battery staple"
_FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def fast_hash(password: str = PASSWORD) -> str:
    return _FAST.hash(password)


@dataclass(frozen=True)
class Identity:
    """A user (``key`` None) or an API key (``key`` is the plain key) for the auth file."""

    name: str
    role: str
    grants: Sequence[Mapping[str, object]] | None = None  # None: no grants key at all
    key: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def entry(self, password_hash: str) -> dict[str, object]:
        entry: dict[str, object] = {"role": self.role, **self.extra}
        if self.key is None:
            entry.update(username=self.name, password_hash=password_hash)
        else:
            entry.update(name=self.name, key_hash=format_key_hash(hash_api_key(self.key)))
        if self.grants is not None:
            entry["grants"] = [dict(grant) for grant in self.grants]
        return entry


def write_auth_file(path: Path, identities: Sequence[Identity], password_hash: str | None = None) -> Path:
    hashed = password_hash or fast_hash()
    users = [i.entry(hashed) for i in identities if i.key is None]
    keys = [i.entry(hashed) for i in identities if i.key is not None]
    path.write_text(yaml.safe_dump({"users": users, "api_keys": keys}, sort_keys=False))
    return path


def auth_settings(directory: Path, identities: Sequence[Identity], **sections: object) -> Settings:
    """The embedded default with auth on, its file holding ``identities`` (unless it exists already)."""
    path = directory / "auth.yaml"
    if not path.exists():
        write_auth_file(path, identities)
    auth = {"enabled": True, "file": str(path), "jwt_secret": JWT_SECRET, **dict(sections.pop("auth", {}))}  # type: ignore[call-overload]
    return make_settings(directory, auth=auth, **sections)


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await client.post("/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def expired_token(username: str, now: datetime) -> str:
    """Correctly signed, but its ``exp`` passed an hour ago."""
    issued = int((now - timedelta(hours=2)).timestamp())
    claims = {"sub": username, "jti": "00000000-0000-4000-8000-000000000000", "iat": issued}
    return jwt.encode({**claims, "exp": issued + 3600, "iss": "tidegate"}, JWT_SECRET, algorithm="HS256")
