"""Which credential a request carries: an API key, a bearer token, or a token from ``login``.

With a username and password the client logs in on first use and once more when its token is refused
(expired or revoked), so a long-running ``stream`` outlives ``auth.jwt_expiry_seconds``."""

from __future__ import annotations

__all__ = ["Credentials"]


class Credentials:
    def __init__(
        self,
        api_key: str | None = None,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.api_key = api_key
        self.token = token
        self._username = username
        self._password = password

    @property
    def login(self) -> tuple[str, str] | None:
        """The username and password to log in with, if the client was given them."""
        if self._username is None or self._password is None:
            return None
        return self._username, self._password

    @property
    def needs_login(self) -> bool:
        return self.token is None and self.login is not None

    def headers(self) -> dict[str, str]:
        """A token wins over a key (README: ``Authorization`` wins over ``X-API-Key``)."""
        if self.token is not None:
            return {"Authorization": f"Bearer {self.token}"}
        if self.api_key is not None:
            return {"X-API-Key": self.api_key}
        return {}

    def __repr__(self) -> str:  # never the secrets
        kinds = [name for name, value in (("api_key", self.api_key), ("token", self.token)) if value]
        if self.login:
            kinds.append("login")
        return f"Credentials({', '.join(kinds) or 'none'})"
