"""Reading the credential headers (README "Authentication headers")."""

from __future__ import annotations

import pytest

from tidegate.errors import Unauthenticated
from tidegate.security.credentials import CredentialKind, looks_like_jwt, read_credential


@pytest.mark.parametrize(
    ("authorization", "api_key", "kind", "value"),
    [
        ("Bearer abc", None, CredentialKind.BEARER, "abc"),
        ("bearer   abc ", None, CredentialKind.BEARER, "abc"),
        ("BEARER abc", "other", CredentialKind.BEARER, "abc"),  # Authorization wins
        (None, "tg_key", CredentialKind.API_KEY_HEADER, "tg_key"),
    ],
)
def test_credentials(
    authorization: str | None, api_key: str | None, kind: CredentialKind, value: str
) -> None:
    credential = read_credential(authorization, api_key)
    assert (credential.kind, credential.value) == (kind, value)
    assert value not in repr(credential)


@pytest.mark.parametrize(
    ("authorization", "api_key"),
    [(None, None), (None, "  "), ("Basic dXNlcjpwYXNz", None), ("Bearer", None), ("Bearer   ", "tg_key")],
)
def test_missing_or_unknown_scheme(authorization: str | None, api_key: str | None) -> None:
    with pytest.raises(Unauthenticated, match=r"^missing credentials$"):
        read_credential(authorization, api_key)


@pytest.mark.parametrize(
    ("value", "shaped"),
    [
        ("a.b.c", True),
        ("a.b.", True),
        ("tg_abc-DEF_123", False),
        ("a.b", False),
        ("a.b.c.d", False),
        ("a b.c.d", False),
    ],
)
def test_jwt_shape(value: str, shaped: bool) -> None:
    assert looks_like_jwt(value) is shaped
