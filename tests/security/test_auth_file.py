"""The auth file (security.md §2): schema, implicit grants, every problem reported without values."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tidegate.errors import ConfigError
from tidegate.model.caller import AuthMethod, Grant, Role
from tidegate.security.auth_file import AuthFile, AuthFileError, load_identities, parse_identities
from tidegate.security.identities import format_key_hash, hash_api_key

# Low-cost parameters: these tests check parsing, not password strength.
HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("a long enough password")
KEY_HASH = format_key_hash(hash_api_key("tg_secret-key"))


def _user(name: str = "alice", role: str = "admin", **extra: object) -> dict[str, object]:
    return {"username": name, "password_hash": HASH, "role": role, **extra}


def _key(name: str = "ci", role: str = "operator", **extra: object) -> dict[str, object]:
    return {"name": name, "key_hash": KEY_HASH, "role": role, **extra}


def _problems(data: object) -> list[str]:
    with pytest.raises(AuthFileError) as caught:
        parse_identities(data)
    return caught.value.problems


def test_users_and_keys_become_callers_with_their_grants() -> None:
    grant = {
        "tenants": ["acme"],
        "namespaces": ["notifications"],
        "providers": ["email"],
        "actions": ["send"],
    }
    identities = parse_identities(
        {"users": [_user(grants=[{"tenants": ["acme.eu"]}])], "api_keys": [_key(grants=[grant])]}
    )
    user = identities.user("alice")
    assert user is not None
    assert user.caller("jti-1").grants == (Grant(tenants=("acme.eu",)),)
    assert user.caller("jti-1").session == "jti-1"
    key = identities.key("tg_secret-key")
    assert key is not None
    caller = key.caller()
    assert (caller.caller_id, caller.auth_method, caller.role) == ("ci", AuthMethod.API_KEY, Role.OPERATOR)
    assert caller.grants == (Grant(("acme",), ("notifications",), ("email",), ("send",)),)
    assert identities.key("tg_other") is None


@pytest.mark.parametrize(
    ("role", "entry", "grants"),
    [
        ("admin", {}, (Grant(),)),  # no grants key: an admin holds the wildcard
        ("operator", {}, ()),
        ("viewer", {}, ()),
        ("admin", {"grants": []}, ()),  # an explicit empty list never widens access
    ],
)
def test_implicit_grants(role: str, entry: dict[str, object], grants: tuple[Grant, ...]) -> None:
    identities = parse_identities({"users": [_user(role=role, **entry)]})
    user = identities.user("alice")
    assert user is not None and user.grants == grants


def test_bare_hex_key_hashes_are_accepted() -> None:
    bare = hash_api_key("tg_bare").hex()
    identities = parse_identities({"api_keys": [{"name": "bare", "key_hash": bare, "role": "viewer"}]})
    assert identities.key("tg_bare") is not None


def test_an_empty_file_has_no_identities() -> None:
    identities = parse_identities(None)
    assert (identities.user_count, identities.key_count) == (0, 0)


def test_every_problem_is_reported_with_its_place_and_never_a_value() -> None:
    problems = _problems(
        {
            "users": [
                _user(role="superuser"),
                _user(name="bob", password_hash="$2b$12$notargon"),
                _user(name="bob"),
                _user(name="carol", grants=[{"tenants": []}]),
            ],
            "api_keys": [
                _key(name="alice"),
                _key(name="bad name"),
                _key(name="k2", key_hash="sha256:abc", expires_at="2027-01-01T00:00:00"),
            ],
            "extra": 1,
        }
    )
    text = "\n".join(problems)
    assert "users[0].role" in text
    assert "users[1].password_hash: must be an argon2id PHC string" in text
    assert "users[2].username: duplicate username" in text
    assert "users[3].grants[0].tenants" in text
    assert "api_keys[0].name: equals a username" in text
    assert "api_keys[1].name" in text
    assert "api_keys[2].key_hash: must be sha256:" in text
    assert "api_keys[2].expires_at" in text
    assert "extra: unknown key" in text
    assert "$2b$12$notargon" not in text and "abc" not in text and "superuser" not in text


def test_cross_checks_report_each_repeat() -> None:
    problems = _problems({"users": [_user(), _user()], "api_keys": [_key(), _key(name="ci2"), _key()]})
    assert problems == [
        "users[1].username: duplicate username",
        "api_keys[1].key_hash: the same key hash is listed twice",
        "api_keys[2].name: duplicate key name",
        "api_keys[2].key_hash: the same key hash is listed twice",
    ]


def test_argon2i_hashes_are_refused() -> None:
    from argon2 import Type

    legacy = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.I).hash("x" * 12)
    assert _problems({"users": [_user(password_hash=legacy)]}) == [
        "users[0].password_hash: must be an argon2id hash, not argon2i or argon2d"
    ]


def test_yaml_and_toml_files_share_one_schema(tmp_path: Path) -> None:
    yaml_file = tmp_path / "auth.yaml"
    yaml_file.write_text(
        f"users:\n  - username: alice\n    password_hash: '{HASH}'\n    role: viewer\n"
        f"api_keys:\n  - name: ci\n    key_hash: '{KEY_HASH}'\n    role: operator\n"
        "    expires_at: 2027-01-01T00:00:00Z\n    grants:\n      - tenants: [acme]\n"
    )
    toml_file = tmp_path / "auth.toml"
    toml_file.write_text(
        f"[[users]]\nusername = 'alice'\npassword_hash = '{HASH}'\nrole = 'viewer'\n"
        f"[[api_keys]]\nname = 'ci'\nkey_hash = '{KEY_HASH}'\nrole = 'operator'\n"
        "expires_at = 2027-01-01T00:00:00Z\n[[api_keys.grants]]\ntenants = ['acme']\n"
    )
    for path in (yaml_file, toml_file):
        identities = load_identities(path)
        key = identities.key("tg_secret-key")
        assert key is not None and key.expires_at == datetime(2027, 1, 1, tzinfo=UTC)
        assert key.has_expired(datetime(2027, 1, 1, tzinfo=UTC))
        assert not key.has_expired(datetime(2026, 12, 31, tzinfo=UTC))
        assert identities.user("alice") is not None


def test_a_yaml_syntax_error_names_the_place_but_quotes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text(f"users:\n  - username: alice\n    password_hash: '{HASH}\n   role: [\n")
    with pytest.raises(AuthFileError) as caught:
        load_identities(path)
    (problem,) = caught.value.problems
    assert problem.startswith("invalid YAML at line")
    assert HASH[:20] not in problem


def test_startup_refuses_a_missing_or_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        AuthFile.open(tmp_path / "missing.yaml")
    assert caught.value.problems == [f"auth.file {tmp_path / 'missing.yaml'}: the file does not exist"]


def test_reload_swaps_a_valid_file_and_keeps_the_old_tables_otherwise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text(f"users:\n  - username: alice\n    password_hash: '{HASH}'\n    role: admin\n")
    auth_file = AuthFile.open(path)
    first = auth_file.current
    path.write_text(f"users:\n  - username: bob\n    password_hash: '{HASH}'\n    role: admin\n")
    assert auth_file.reload()
    assert auth_file.current.user("bob") is not None and auth_file.current.user("alice") is None
    second = auth_file.current
    assert second is not first
    path.write_text(f"users:\n  - username: carol\n    password_hash: '{HASH}'\n    role: root\n  - oops\n")
    with caplog.at_level(logging.ERROR, logger="tidegate.security.auth_file"):
        assert not auth_file.reload()
    assert auth_file.current is second
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2  # one line per problem
    assert all("previous users and keys stay in force" in line for line in errors)
    assert not any(HASH in line for line in errors)


@pytest.mark.parametrize(
    "data",
    [
        [1, 2],
        {"users": "alice"},
        {"users": [["alice"]], "api_keys": [{"name": ["ci"], "key_hash": 5}]},
        {"users": [{"username": ["a"]}, {"username": {"b": 1}}]},
        {"api_keys": [None]},
    ],
)
def test_any_shape_is_a_reported_problem(data: object) -> None:
    assert _problems(data)
