"""Login tokens (security.md §3): HS256 JWTs and the session allow-list that makes logout work everywhere.

A token carries only who (``sub``) and which session (``jti``); role and grants are read from the auth
file on every request, so a demotion applies at once. ``exp`` is checked against the injected clock with
no leeway. Sessions live in the StateStore (``jti -> username``, TTL = the token lifetime): logout
deletes the key, so every instance sharing the store refuses the token from its next request on, and a
wiped store fails closed (every token stops working) instead of reviving revoked ones."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import jwt
from jwt.types import Options

from tidegate.errors import Unauthenticated
from tidegate.store import keys
from tidegate.store.base import StateStore

__all__ = ["ALGORITHM", "ISSUER", "Claims", "IssuedToken", "Sessions", "TokenCodec"]

ALGORITHM = "HS256"
ISSUER = "tidegate"
_REQUIRED = ["sub", "jti", "iat", "exp", "iss"]
#: PyJWT checks the signature, the algorithm and ``iss``; time claims are checked here, on our clock.
_OPTIONS: Options = {"require": _REQUIRED, "verify_exp": False, "verify_iat": False, "verify_nbf": False}


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class Claims:
    username: str
    jti: str


class TokenCodec:
    def __init__(self, secret: bytes, lifetime_seconds: int) -> None:
        self._secret = secret
        self.lifetime = lifetime_seconds

    def issue(self, username: str, now: datetime) -> IssuedToken:
        jti = str(uuid.uuid4())
        issued_at = int(now.timestamp())
        claims = {
            "sub": username,
            "jti": jti,
            "iat": issued_at,
            "exp": issued_at + self.lifetime,
            "iss": ISSUER,
        }
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return IssuedToken(token, jti, self.lifetime)

    def decode(self, token: str, now: datetime) -> Claims:
        """The claims of a valid, unexpired token; raises Unauthenticated (``invalid token`` or
        ``token expired``), never echoing the token. Any ``alg`` but HS256 (``none`` too) is invalid."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], issuer=ISSUER, options=_OPTIONS)
        except jwt.InvalidTokenError:
            raise Unauthenticated("invalid token") from None
        subject, jti, expires = claims["sub"], claims["jti"], claims["exp"]
        if not (isinstance(subject, str) and isinstance(jti, str) and isinstance(expires, int | float)):
            raise Unauthenticated("invalid token")
        if not expires > now.timestamp():
            raise Unauthenticated("token expired")
        return Claims(subject, jti)


class Sessions:
    """The allow-list of live sessions; every method may raise BackendUnavailable (the caller gets 503)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def open(self, jti: str, username: str, ttl_seconds: int) -> None:
        await self._store.put(keys.session(jti), username.encode(), ttl=ttl_seconds)

    async def is_open(self, jti: str, username: str) -> bool:
        return await self._store.get(keys.session(jti)) == username.encode()

    async def close(self, jti: str) -> bool:
        """End the session; True if it was open."""
        return await self._store.delete(keys.session(jti))
