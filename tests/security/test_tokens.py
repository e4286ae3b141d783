"""JWTs (security.md §3): HS256 only, our clock, no leeway, nothing echoed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tidegate.errors import Unauthenticated
from tidegate.security.tokens import TokenCodec

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)


def _failure(codec: TokenCodec, token: str, now: datetime = NOW) -> str:
    with pytest.raises(Unauthenticated) as caught:
        codec.decode(token, now)
    assert token not in caught.value.message
    return caught.value.message


def test_a_token_round_trips_until_its_expiry() -> None:
    codec = TokenCodec(SECRET, 3600)
    issued = codec.issue("alice", NOW)
    assert issued.expires_in == 3600
    claims = jwt.decode(issued.token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {
        "sub": "alice",
        "jti": issued.jti,
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 3600,
        "iss": "tidegate",
    }
    assert len(issued.jti) == 36 and issued.jti[14] == "4"  # UUIDv4
    decoded = codec.decode(issued.token, NOW + timedelta(seconds=3599))
    assert (decoded.username, decoded.jti) == ("alice", issued.jti)
    assert _failure(codec, issued.token, NOW + timedelta(seconds=3600)) == "token expired"


def _forge(claims: dict[str, object], key: bytes = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _claims(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "sub": "alice",
        "jti": "j",
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 60,
        "iss": "tidegate",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    "token",
    [
        _forge(_claims(), key=b"another-secret-another-secret-xx"),
        _forge(_claims(), key=SECRET * 2, algorithm="HS512"),  # only HS256 is accepted
        _forge(_claims(iss="someone-else")),
        _forge(_claims(jti=None)),
        _forge(_claims(sub=None)),
        _forge(_claims(exp=None)),
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSJ9.",  # alg: none
        "not.a.token",
    ],
)
def test_forged_or_incomplete_tokens_are_invalid(token: str) -> None:
    assert _failure(TokenCodec(SECRET, 60), token) == "invalid token"


def test_an_unsigned_copy_of_a_real_token_is_invalid() -> None:
    codec = TokenCodec(SECRET, 60)
    header, payload, _ = codec.issue("alice", NOW).token.split(".")
    none_header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    assert _failure(codec, f"{none_header}.{payload}.") == "invalid token"
    assert _failure(codec, f"{header}.{payload}.") == "invalid token"
