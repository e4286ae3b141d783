"""Which credential a request presents (README "Authentication headers"); pure, no lookups.

``Authorization: Bearer <value>`` (scheme case-insensitive) wins over ``X-API-Key: <key>``. Any other
scheme, or no usable header, is ``missing credentials``. A Bearer value is tried as a JWT only when it is
shaped like one (three dot-separated base64url parts), so an API key never pays for a JWT decode."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from tidegate.errors import Unauthenticated

__all__ = ["Credential", "CredentialKind", "looks_like_jwt", "read_credential"]

_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class CredentialKind(Enum):
    BEARER = "bearer"  # a JWT from login, or an API key (the Acteon SDK's form)
    API_KEY_HEADER = "x-api-key"


@dataclass(frozen=True, slots=True)
class Credential:
    kind: CredentialKind
    value: str

    def __repr__(self) -> str:  # never print the secret, even in a traceback
        return f"Credential({self.kind.value}, [redacted])"


def looks_like_jwt(value: str) -> bool:
    """Three dot-separated base64url parts (the signature may be empty, as in an ``alg: none`` token)."""
    return _JWT_SHAPE.fullmatch(value) is not None


def read_credential(authorization: str | None, api_key: str | None) -> Credential:
    """The credential to check; raises Unauthenticated(``missing credentials``) when there is none."""
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise Unauthenticated("missing credentials")
        return Credential(CredentialKind.BEARER, value)
    if api_key is not None and api_key.strip():
        return Credential(CredentialKind.API_KEY_HEADER, api_key.strip())
    raise Unauthenticated("missing credentials")
