"""Who is making a request: the principal every permission and grant check looks at."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["ANONYMOUS", "SYSTEM", "AuthMethod", "Caller", "Grant", "Role"]


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


class AuthMethod(StrEnum):
    JWT = "jwt"
    API_KEY = "api_key"
    ANONYMOUS = "anonymous"
    SYSTEM = "system"


WILDCARD = ("*",)


@dataclass(frozen=True, slots=True)
class Grant:
    """Patterns per dimension; tenant patterns match hierarchically (security.md §4)."""

    tenants: tuple[str, ...] = WILDCARD
    namespaces: tuple[str, ...] = WILDCARD
    providers: tuple[str, ...] = WILDCARD
    action_types: tuple[str, ...] = WILDCARD


@dataclass(frozen=True, slots=True)
class Caller:
    """``session`` is the JWT's ``jti`` for a login session (what logout revokes), else None."""

    caller_id: str
    auth_method: AuthMethod
    role: Role
    grants: tuple[Grant, ...] = field(default=(Grant(),))
    session: str | None = None


ANONYMOUS = Caller("anonymous", AuthMethod.ANONYMOUS, Role.ADMIN)
SYSTEM = Caller("system", AuthMethod.SYSTEM, Role.ADMIN)
