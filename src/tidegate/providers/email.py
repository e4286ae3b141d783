"""The ``email`` provider: send the payload as a message over SMTP (features.md §8.3).

``smtplib`` is blocking, so each send runs in a worker thread with the socket timeout set to the provider's
timeout. If the executor's timeout fires first, the thread still finishes (or times out) on its own, so a
retried email may arrive twice: SMTP delivery is at-least-once here."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import Literal

from tidegate.model.action import Action
from tidegate.model.json import JsonObject
from tidegate.model.outcome import ProviderResponse
from tidegate.providers._mail import build_message, parse_mail, sender_domain
from tidegate.providers.base import ProviderError

__all__ = ["EmailProvider", "SmtpSecurity", "SmtpServer", "smtp_error"]

SmtpSecurity = Literal["starttls", "tls", "none"]


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to connect; ``password`` is revealed only here, never logged or quoted."""

    host: str
    port: int = 587
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = 30.0

    def __repr__(self) -> str:
        return f"SmtpServer(host={self.host!r}, port={self.port}, security={self.security!r})"


class EmailProvider:
    """Sends one message per action; ``partial`` when the server refuses some recipients."""

    def __init__(self, name: str, server: SmtpServer, sender: str, default_to: Sequence[str] = ()) -> None:
        self._name = name
        self._server = server
        self._sender = sender
        self._envelope_sender = parseaddr(sender)[1] or sender
        self._domain = sender_domain(sender)
        self._default_to = tuple(default_to)
        self._tls_context: ssl.SSLContext | None = None

    @property
    def name(self) -> str:
        return self._name

    async def execute(self, action: Action, attempt: int) -> ProviderResponse:
        mail = parse_mail(action.payload, self._default_to)
        message_id = make_msgid(domain=self._domain)
        message = build_message(mail, self._sender, message_id)
        recipients = list(mail.recipients)
        refused = await asyncio.to_thread(self._send, message, recipients)
        rejected = [r for r in recipients if r in refused]
        accepted = [r for r in recipients if r not in refused]
        body: JsonObject = {"message_id": message_id, "accepted": list(accepted), "rejected": list(rejected)}
        return ProviderResponse("partial" if rejected else "success", body, {})

    async def close(self) -> None:
        return None

    @property
    def _tls(self) -> ssl.SSLContext:
        """Built on first use: loading the CA store is slow and a plain-SMTP provider never needs it."""
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context()
        return self._tls_context

    def _send(self, message: EmailMessage, recipients: list[str]) -> set[str]:
        """Blocking: connect, secure, authenticate, send. Returns the refused recipients."""
        try:
            return self._send_or_raise(message, recipients)
        except (smtplib.SMTPException, OSError) as exc:
            raise smtp_error(exc) from None  # SMTP replies may quote credentials; keep only our summary

    def _send_or_raise(self, message: EmailMessage, recipients: list[str]) -> set[str]:
        server = self._server
        client: smtplib.SMTP
        if server.security == "tls":
            client = smtplib.SMTP_SSL(
                server.host, server.port, timeout=server.timeout_seconds, context=self._tls
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=server.timeout_seconds)
        try:
            if server.security == "starttls":
                client.ehlo()
                try:
                    client.starttls(context=self._tls)
                except smtplib.SMTPNotSupportedError:
                    raise ProviderError(
                        "connection", "connection error: the SMTP server does not offer STARTTLS"
                    ) from None
                client.ehlo()
            if server.username:
                client.login(server.username, server.password or "")
            refused = client.send_message(message, from_addr=self._envelope_sender, to_addrs=recipients)
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            return set(refused)
        finally:
            client.close()


def _reply_error(code: int, what: str) -> ProviderError:
    """SMTP 4xx is transient (retryable), 5xx permanent (not retryable)."""
    return ProviderError("execution_failed", f"SMTP {code}: {what}", retryable=400 <= code < 500)


def _timed_out(exc: BaseException) -> bool:
    """smtplib reports a socket timeout as ``SMTPServerDisconnected``; the timeout is in the context."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def smtp_error(exc: BaseException) -> ProviderError:
    """Classify an smtplib or socket failure (features.md §8.3), with a message that quotes no reply text."""
    if _timed_out(exc):
        return ProviderError("timeout", "timeout: the SMTP server did not answer in time")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        transient = bool(codes) and all(400 <= code < 500 for code in codes)
        code = codes[0] if codes else 550
        return ProviderError(
            "execution_failed", f"SMTP {code}: every recipient was refused", retryable=transient
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ProviderError(
            "execution_failed", "SMTP error: the server lacks a required extension", retryable=False
        )
    if isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)):
        return ProviderError("connection", "connection error: the SMTP server closed the connection")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _reply_error(exc.smtp_code, "authentication failed")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _reply_error(exc.smtp_code, "sender refused")
    if isinstance(exc, smtplib.SMTPDataError):
        return _reply_error(exc.smtp_code, "message refused")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_error(exc.smtp_code, "command refused")
    if isinstance(exc, smtplib.SMTPException):
        return ProviderError("execution_failed", "SMTP error: the session failed", retryable=False)
    if isinstance(exc, ssl.SSLError):
        return ProviderError("connection", "connection error: TLS handshake failed")
    if isinstance(exc, ConnectionRefusedError):
        return ProviderError("connection", "connection error: connection refused")
    return ProviderError("connection", "connection error: cannot reach the SMTP server")
