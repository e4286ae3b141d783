"""Credentials in, a ``Caller`` out; plus login and logout (security.md §3, api.md §13).

Every failure is ``Unauthenticated`` with a message naming its class (``missing credentials``, ``invalid
token``, ``token expired``, ``token revoked``, ``invalid API key``, ``API key expired``) and never the
credential. Role and grants come from the auth file in force at the time of the request, for JWTs too,
so removing a user or key, or changing a role or grant, applies from the next request on."""

from __future__ import annotations

from tidegate.clock import Clock
from tidegate.config.access import AuthSettings
from tidegate.errors import InvalidCredentials, InvalidInput, Unauthenticated
from tidegate.model.caller import AuthMethod, Caller
from tidegate.security.auth_file import AuthFile
from tidegate.security.credentials import CredentialKind, looks_like_jwt, read_credential
from tidegate.security.identities import Identities
from tidegate.security.login_throttle import LoginThrottle
from tidegate.security.passwords import PasswordVerifier
from tidegate.security.tokens import IssuedToken, Sessions, TokenCodec
from tidegate.store.base import StateStore

__all__ = ["Authenticator", "open_authenticator"]

INVALID_CREDENTIALS = "invalid credentials"


class Authenticator:
    def __init__(
        self,
        auth_file: AuthFile,
        codec: TokenCodec,
        sessions: Sessions,
        throttle: LoginThrottle,
        clock: Clock,
        passwords: PasswordVerifier | None = None,
    ) -> None:
        self.auth_file = auth_file
        self._codec = codec
        self._sessions = sessions
        self._throttle = throttle
        self._clock = clock
        self._passwords = passwords or PasswordVerifier()

    @property
    def identities(self) -> Identities:
        return self.auth_file.current

    async def authenticate(self, authorization: str | None, api_key: str | None) -> Caller:
        """The caller the headers prove; raises Unauthenticated (401) or BackendUnavailable (503)."""
        credential = read_credential(authorization, api_key)
        if credential.kind is CredentialKind.BEARER and looks_like_jwt(credential.value):
            try:
                return await self._from_token(credential.value)
            except Unauthenticated as token_failure:
                try:
                    return self._from_key(credential.value)
                except Unauthenticated:
                    raise token_failure from None  # a JWT-shaped value reports the JWT failure (§3)
        return self._from_key(credential.value)

    async def _from_token(self, token: str) -> Caller:
        claims = self._codec.decode(token, self._clock.now())
        if not await self._sessions.is_open(claims.jti, claims.username):
            raise Unauthenticated("token revoked")
        user = self.identities.user(claims.username)
        if user is None:
            raise Unauthenticated("invalid token")
        return user.caller(claims.jti)

    def _from_key(self, presented: str) -> Caller:
        key = self.identities.key(presented)
        if key is None:
            raise Unauthenticated("invalid API key")
        if key.has_expired(self._clock.now()):
            raise Unauthenticated("API key expired")
        return key.caller()

    async def login(self, username: str, password: str) -> IssuedToken:
        """A new token and session; raises RateLimited (429) or InvalidCredentials (401, one message for
        an unknown user and a wrong password, reached after the same argon2 work)."""
        await self._throttle.check(username, self._clock.now())
        user = self.identities.user(username)
        if not await self._passwords.verify(None if user is None else user.password_hash, password):
            await self._throttle.record_failure(username, self._clock.now())
            raise InvalidCredentials(INVALID_CREDENTIALS)
        issued = self._codec.issue(username, self._clock.now())
        await self._sessions.open(issued.jti, username, self._codec.lifetime)
        return issued

    async def logout(self, caller: Caller) -> None:
        """End the caller's login session everywhere; an API key has none (400)."""
        if caller.auth_method is not AuthMethod.JWT or caller.session is None:
            raise InvalidInput("logout needs a login token (Authorization: Bearer <jwt>), not an API key")
        await self._sessions.close(caller.session)


def open_authenticator(settings: AuthSettings, store: StateStore, clock: Clock) -> Authenticator | None:
    """None when authentication is disabled; raises ConfigError when the auth file is invalid."""
    if not settings.enabled:
        return None
    secret = settings.jwt_secret
    assert secret is not None  # AuthSettings requires it when enabled
    return Authenticator(
        AuthFile.open(settings.file),
        TokenCodec(secret.get_secret_value().encode(), settings.jwt_expiry_seconds),
        Sessions(store),
        LoginThrottle(store, settings.login_max_failures, settings.login_window_seconds),
        clock,
    )
