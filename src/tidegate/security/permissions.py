"""Who may call which endpoint: the one route table and the one role table (api.md §1, security.md §4).

``ROUTES`` holds every endpoint of api.md §1.3, those not built yet included, so a new router only has to
use it. Path parameters are written ``{}``: a route is found by method and path template whatever its
parameters are called. The app refuses to start when a route is missing here (``unlisted_routes``), so no
endpoint can be served without a decided permission. Everything here is pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from tidegate.model.caller import Role

__all__ = [
    "ROLE_PERMISSIONS",
    "ROUTES",
    "GrantRule",
    "Permission",
    "RouteRule",
    "role_allows",
    "route_key",
    "route_rule",
    "unlisted_routes",
]


class Permission(StrEnum):
    PUBLIC = "public"  # credentials are never read
    SIGNED = "signed"  # approval links: the HMAC signature is the credential (api.md §7)
    AUTHENTICATED = "authenticated"  # any authenticated caller, whatever its role (logout)
    READ = "read"
    STREAM_SUBSCRIBE = "stream_subscribe"
    DISPATCH = "dispatch"
    MANAGE = "manage"


class GrantRule(StrEnum):
    """Which tenant check the endpoint applies after the role check (api.md §1.2)."""

    NONE = "none"  # a global object, or no tenant data
    CREATE = "G1"  # creates actions: one grant covers (tenant, namespace, provider, action_type), else 403
    LIST = "G2/G4"  # a named tenant not covered: 403; no tenant named: only covered entities
    ENTITY = "G3"  # an entity whose (tenant, namespace) is not covered: 404, exactly like a missing one
    EVENTS = "events"  # the stream: per-event isolation, and G2 on the ``tenant`` filter


@dataclass(frozen=True, slots=True)
class RouteRule:
    """``takes_body``: the endpoint reads a JSON body, so a too-large body answers 413 before a 403."""

    permission: Permission
    grant: GrantRule = GrantRule.NONE
    takes_body: bool = False


#: What each role may do. Admin and operator hold the same permissions in this version; they differ only
#: in the implicit wildcard grant of an admin without a ``grants`` key (security.md §2).
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(
            {Permission.READ, Permission.STREAM_SUBSCRIBE, Permission.DISPATCH, Permission.MANAGE}
        ),
        Role.OPERATOR: frozenset(
            {Permission.READ, Permission.STREAM_SUBSCRIBE, Permission.DISPATCH, Permission.MANAGE}
        ),
        Role.VIEWER: frozenset({Permission.READ, Permission.STREAM_SUBSCRIBE}),
    }
)

_P, _G = Permission, GrantRule
_PUBLIC = RouteRule(_P.PUBLIC)
_SIGNED = RouteRule(_P.SIGNED)
_CREATE = RouteRule(_P.DISPATCH, _G.CREATE, takes_body=True)
_READ_LIST = RouteRule(_P.READ, _G.LIST)
_READ_ENTITY = RouteRule(_P.READ, _G.ENTITY)
_READ_GLOBAL = RouteRule(_P.READ)
_MANAGE_GLOBAL = RouteRule(_P.MANAGE)

#: Every endpoint of api.md §1.3, keyed by (method, path template with ``{}`` parameters).
ROUTES: Mapping[tuple[str, str], RouteRule] = MappingProxyType(
    {
        ("GET", "/health"): _PUBLIC,
        ("GET", "/metrics"): _PUBLIC,
        ("GET", "/metrics/prometheus"): _PUBLIC,
        ("POST", "/v1/dispatch"): _CREATE,
        ("POST", "/v1/dispatch/batch"): _CREATE,
        ("POST", "/v1/dispatch/stream"): _CREATE,
        ("GET", "/v1/rules"): _READ_GLOBAL,
        ("POST", "/v1/rules/reload"): _MANAGE_GLOBAL,
        ("PUT", "/v1/rules/{}/enabled"): RouteRule(_P.MANAGE, takes_body=True),
        ("GET", "/v1/audit"): _READ_LIST,
        ("GET", "/v1/audit/{}"): _READ_ENTITY,
        ("GET", "/v1/events"): _READ_LIST,
        ("GET", "/v1/events/{}"): _READ_ENTITY,
        ("PUT", "/v1/events/{}/transition"): RouteRule(_P.MANAGE, _G.ENTITY, takes_body=True),
        ("GET", "/v1/approvals"): _READ_LIST,
        ("GET", "/v1/approvals/{}/{}/{}"): _SIGNED,
        ("GET", "/v1/approvals/{}/{}/{}/approve"): _SIGNED,
        ("GET", "/v1/approvals/{}/{}/{}/reject"): _SIGNED,
        ("POST", "/v1/approvals/{}/{}/{}/approve"): _SIGNED,
        ("POST", "/v1/approvals/{}/{}/{}/reject"): _SIGNED,
        ("GET", "/v1/groups"): _READ_LIST,
        ("GET", "/v1/groups/{}"): _READ_ENTITY,
        ("DELETE", "/v1/groups/{}"): RouteRule(_P.DISPATCH, _G.ENTITY),
        ("GET", "/v1/chains"): _READ_LIST,
        ("GET", "/v1/chains/{}"): _READ_ENTITY,
        ("POST", "/v1/chains/{}/cancel"): RouteRule(_P.MANAGE, _G.ENTITY),
        ("GET", "/v1/chains/definitions"): _READ_GLOBAL,
        ("GET", "/v1/chains/definitions/{}"): _READ_GLOBAL,
        ("PUT", "/v1/chains/definitions/{}"): RouteRule(_P.MANAGE, takes_body=True),
        ("DELETE", "/v1/chains/definitions/{}"): _MANAGE_GLOBAL,
        ("GET", "/v1/chains/{}/events"): RouteRule(_P.STREAM_SUBSCRIBE, _G.ENTITY),
        ("GET", "/v1/executions/{}/history"): _READ_ENTITY,
        ("GET", "/v1/executions/{}/events"): RouteRule(_P.STREAM_SUBSCRIBE, _G.ENTITY),
        ("POST", "/v1/embeddings/similarity"): RouteRule(_P.DISPATCH, takes_body=True),
        ("GET", "/admin/circuit-breakers"): _MANAGE_GLOBAL,
        ("POST", "/admin/circuit-breakers/{}/trip"): _MANAGE_GLOBAL,
        ("POST", "/admin/circuit-breakers/{}/reset"): _MANAGE_GLOBAL,
        ("POST", "/v1/recurring"): _CREATE,
        ("GET", "/v1/recurring"): _READ_LIST,
        ("GET", "/v1/recurring/{}"): _READ_ENTITY,
        ("PUT", "/v1/recurring/{}"): _CREATE,  # G3 on the id as well: a foreign id is 404
        ("DELETE", "/v1/recurring/{}"): RouteRule(_P.DISPATCH, _G.ENTITY),
        ("POST", "/v1/recurring/{}/pause"): RouteRule(_P.DISPATCH, _G.ENTITY),
        ("POST", "/v1/recurring/{}/resume"): RouteRule(_P.DISPATCH, _G.ENTITY),
        ("GET", "/v1/stream"): RouteRule(_P.STREAM_SUBSCRIBE, _G.EVENTS),
        ("POST", "/v1/auth/login"): RouteRule(_P.PUBLIC, takes_body=True),
        ("POST", "/v1/auth/logout"): RouteRule(_P.AUTHENTICATED),
        ("GET", "/docs"): _PUBLIC,
        ("GET", "/docs/assets/{}"): _PUBLIC,
        ("GET", "/openapi.json"): _PUBLIC,
        ("GET", "/ui"): _PUBLIC,
        ("GET", "/ui/assets/{}"): _PUBLIC,
    }
)

_PARAMETER = re.compile(r"\{[^}]*\}")


def route_key(method: str, path: str) -> tuple[str, str]:
    """The table key of a route: HEAD is served as GET, parameters become ``{}``."""
    return ("GET" if method == "HEAD" else method), _PARAMETER.sub("{}", path)


def route_rule(method: str, path: str) -> RouteRule | None:
    return ROUTES.get(route_key(method, path))


def role_allows(role: Role, permission: Permission) -> bool:
    """Public, signed and "any authenticated" endpoints need no role permission."""
    if permission in (Permission.PUBLIC, Permission.SIGNED, Permission.AUTHENTICATED):
        return True
    return permission in ROLE_PERMISSIONS[role]


def unlisted_routes(routes: Iterable[tuple[str, str]]) -> list[str]:
    """``METHOD path`` of each (method, path template) the table does not list."""
    missing = {
        (route_key(method, path)[0], path) for method, path in routes if route_rule(method, path) is None
    }
    return sorted(f"{method} {path}" for method, path in missing)
