"""Authentication and authorization: identities from the auth file, login tokens, and the permission table
(security.md). Nothing here imports the HTTP layer; ``api/deps.py`` applies it to requests."""

from tidegate.security.auth_file import AuthFile, AuthFileError, load_identities, parse_identities
from tidegate.security.authenticator import Authenticator, open_authenticator
from tidegate.security.identities import ApiKey, Identities, User, format_key_hash, hash_api_key
from tidegate.security.permissions import (
    ROUTES,
    GrantRule,
    Permission,
    RouteRule,
    role_allows,
    route_key,
    route_rule,
    unlisted_routes,
)

__all__ = [
    "ROUTES",
    "ApiKey",
    "AuthFile",
    "AuthFileError",
    "Authenticator",
    "GrantRule",
    "Identities",
    "Permission",
    "RouteRule",
    "User",
    "format_key_hash",
    "hash_api_key",
    "load_identities",
    "open_authenticator",
    "parse_identities",
    "role_allows",
    "route_key",
    "route_rule",
    "unlisted_routes",
]
