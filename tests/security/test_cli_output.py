"""What ``tidegate hash-password`` and ``tidegate generate-api-key`` print goes into the auth file as is."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tidegate.cli import main
from tidegate.security.auth_file import parse_identities
from tidegate.security.passwords import PasswordVerifier


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no tidegate.toml around: built-in defaults
    for name in list(os.environ):
        if name.upper().startswith("TIDEGATE_"):
            monkeypatch.delenv(name)


async def test_printed_hashes_are_accepted_by_the_auth_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery staple\n"))
    assert main(["hash-password"]) == 0
    password_hash = capsys.readouterr().out.strip()
    assert main(["generate-api-key"]) == 0
    key_line, hash_line = capsys.readouterr().out.splitlines()
    key = key_line.removeprefix("key:").strip()
    key_hash = hash_line.removeprefix("hash:").strip()

    identities = parse_identities(
        {
            "users": [{"username": "alice", "password_hash": password_hash, "role": "admin"}],
            "api_keys": [{"name": "ci", "key_hash": key_hash, "role": "operator"}],
        }
    )
    found = identities.key(key)
    assert found is not None and found.name == "ci"
    user = identities.user("alice")
    assert user is not None
    verifier = PasswordVerifier()
    assert await verifier.verify(user.password_hash, "correct horse battery staple")
    assert not await verifier.verify(user.password_hash, "correct horse battery stapl")
    assert not await verifier.verify(None, "correct horse battery staple")  # unknown user: always False


def test_serve_refuses_an_invalid_auth_file_before_binding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runs: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **options: runs.append(app))
    secret = "s" * 40
    (tmp_path / "tidegate.yaml").write_text(f"auth: {{enabled: true, jwt_secret: '{secret}'}}\n")
    (tmp_path / "auth.yaml").write_text(
        "users:\n  - username: alice\n    password_hash: nope\n    role: admin\n"
    )
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "auth.yaml: users[0].password_hash: must be an argon2id PHC string" in err
    assert "nope" not in err and secret not in err
    assert runs == []
