"""The email provider against a local SMTP server (features.md §8.3)."""

from __future__ import annotations

import email
import email.policy
import smtplib
import socket
from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest

from tidegate.model.json import JsonValue
from tidegate.providers import EmailProvider, ProviderError, SmtpServer
from tidegate.providers.email import smtp_error

from ._smtp import LocalSmtpServer, SmtpBehaviour
from ._support import make_action

SENDER = "Tidegate <noreply@example.com>"


@pytest.fixture
async def smtp() -> AsyncIterator[LocalSmtpServer]:
    server = LocalSmtpServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def provider_for(smtp: LocalSmtpServer, **server: object) -> EmailProvider:
    settings = {"host": "127.0.0.1", "port": smtp.port, "security": "none", "timeout_seconds": 5.0, **server}
    return EmailProvider("mail", SmtpServer(**settings), SENDER, default_to=["ops@example.com"])  # type: ignore[arg-type]


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def failure(provider: EmailProvider, payload: JsonValue) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.execute(make_action(payload), 1)
    return caught.value


async def test_sends_to_every_recipient(smtp: LocalSmtpServer) -> None:
    payload: JsonValue = {
        "to": "ann@example.com",
        "cc": ["bob@example.com"],
        "bcc": ["carl@example.com"],
        "subject": "Hello!",
        "text": "Welcome aboard.",
        "reply_to": "help@example.com",
    }
    response = await provider_for(smtp).execute(make_action(payload), 1)
    assert response.status == "success"
    assert response.headers == {}
    assert isinstance(response.body, dict)
    assert response.body["accepted"] == ["ann@example.com", "bob@example.com", "carl@example.com"]
    assert response.body["rejected"] == []
    (received,) = smtp.messages
    assert received.mail_from == "noreply@example.com"
    assert received.rcpt_to == ["ann@example.com", "bob@example.com", "carl@example.com"]
    message = parsed(received.data)
    assert message["From"] == SENDER
    assert message["To"] == "ann@example.com"
    assert message["Cc"] == "bob@example.com"
    assert message["Bcc"] is None
    assert message["Subject"] == "Hello!"
    assert message["Reply-To"] == "help@example.com"
    assert message["Message-ID"] == response.body["message_id"]
    assert str(response.body["message_id"]).endswith("@example.com>")
    assert message.get_content().strip() == "Welcome aboard."
    assert smtp.commands[-1].upper() == "QUIT"


async def test_defaults_to_default_to_and_no_subject(smtp: LocalSmtpServer) -> None:
    response = await provider_for(smtp).execute(make_action({"body": "plain body"}), 1)
    assert isinstance(response.body, dict) and response.body["accepted"] == ["ops@example.com"]
    message = parsed(smtp.messages[0].data)
    assert message["Subject"] == "(no subject)"
    assert message.get_content().strip() == "plain body"


async def test_text_and_html_make_multipart_alternative(smtp: LocalSmtpServer) -> None:
    await provider_for(smtp).execute(make_action({"text": "plain", "html": "<p>rich</p>"}), 1)
    message = parsed(smtp.messages[0].data)
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]


async def test_html_only_is_a_single_html_part(smtp: LocalSmtpServer) -> None:
    await provider_for(smtp).execute(make_action({"html": "<b>hi</b>"}), 1)
    message = parsed(smtp.messages[0].data)
    assert message.get_content_type() == "text/html"


async def test_some_recipients_refused_is_partial(smtp: LocalSmtpServer) -> None:
    smtp.behaviour.rcpt_replies = {"gone@example.com": "550 5.1.1 No such user"}
    payload: JsonValue = {"to": ["ann@example.com", "gone@example.com"], "text": "x"}
    response = await provider_for(smtp).execute(make_action(payload), 1)
    assert response.status == "partial"
    assert isinstance(response.body, dict)
    assert (response.body["accepted"], response.body["rejected"]) == (
        ["ann@example.com"],
        ["gone@example.com"],
    )
    assert smtp.messages[0].rcpt_to == ["ann@example.com"]


@pytest.mark.parametrize(
    ("reply", "retryable"), [("550 5.1.1 No such user", False), ("450 4.2.0 Greylisted", True)]
)
async def test_every_recipient_refused_fails(smtp: LocalSmtpServer, reply: str, retryable: bool) -> None:
    smtp.behaviour.rcpt_replies = {"a@example.com": reply, "b@example.com": reply}
    error = await failure(provider_for(smtp), {"to": ["a@example.com", "b@example.com"]})
    assert (error.code, error.retryable) == ("execution_failed", retryable)
    assert smtp.messages == []


async def test_no_recipient_at_all_fails_without_connecting(smtp: LocalSmtpServer) -> None:
    provider = EmailProvider("mail", SmtpServer("127.0.0.1", smtp.port, "none"), SENDER)
    error = await failure(provider, {"subject": "nobody", "to": []})
    assert (error.code, error.retryable) == ("execution_failed", False)
    assert smtp.connections == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"to": 5},
        {"to": ["a@example.com", 2]},
        {"subject": 1},
        {"text": ["x"]},
        {"html": {}},
        {"cc": True},
        "text",
    ],
)
async def test_non_string_values_are_serialization_errors(smtp: LocalSmtpServer, payload: JsonValue) -> None:
    error = await failure(provider_for(smtp), payload)
    assert (error.code, error.retryable) == ("serialization", False)
    assert smtp.connections == 0


async def test_header_injection_is_refused(smtp: LocalSmtpServer) -> None:
    error = await failure(provider_for(smtp), {"subject": "hi\r\nBcc: victim@example.com", "text": "x"})
    assert error.code == "serialization"
    error = await failure(provider_for(smtp), {"to": "a@example.com\r\nRCPT TO:<b@example.com>"})
    assert error.code == "serialization"


async def test_login_with_credentials(smtp: LocalSmtpServer) -> None:
    smtp.behaviour.credentials = ("mailer", "s3cret-pw")
    provider = provider_for(smtp, username="mailer", password="s3cret-pw")
    response = await provider.execute(make_action({"text": "x"}), 1)
    assert response.status == "success"
    assert any(command.startswith("AUTH PLAIN") for command in smtp.commands)


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [("535 5.7.8 Bad password s3cret-pw", False), ("454 4.7.0 Temporary authentication failure", True)],
)
async def test_authentication_failure(smtp: LocalSmtpServer, reply: str, retryable: bool) -> None:
    smtp.behaviour.credentials = ("mailer", "right")
    smtp.behaviour.auth_failure = reply
    error = await failure(provider_for(smtp, username="mailer", password="s3cret-pw"), {"text": "x"})
    assert (error.code, error.retryable) == ("execution_failed", retryable)
    assert "authentication failed" in error.message
    assert "s3cret-pw" not in error.message and "Bad password" not in error.message


@pytest.mark.parametrize(
    ("field", "reply", "retryable"),
    [
        ("mail_reply", "451 4.3.0 Try later", True),
        ("mail_reply", "553 5.7.1 Sender not allowed", False),
        ("data_reply", "452 4.3.1 Out of storage", True),
        ("data_reply", "554 5.7.1 Spam", False),
    ],
)
async def test_smtp_replies_4xx_retryable_5xx_not(
    smtp: LocalSmtpServer, field: str, reply: str, retryable: bool
) -> None:
    setattr(smtp.behaviour, field, reply)
    error = await failure(provider_for(smtp), {"text": "x"})
    assert (error.code, error.retryable) == ("execution_failed", retryable)
    assert error.message.startswith(f"SMTP {reply[:3]}: ")
    assert reply[4:] not in error.message


async def test_starttls_not_offered_is_a_connection_error(smtp: LocalSmtpServer) -> None:
    error = await failure(provider_for(smtp, security="starttls"), {"text": "x"})
    assert (error.code, error.retryable) == ("connection", True)
    assert "STARTTLS" in error.message
    assert smtp.messages == []


async def test_implicit_tls_against_a_plain_server_is_a_connection_error(smtp: LocalSmtpServer) -> None:
    error = await failure(provider_for(smtp, security="tls"), {"text": "x"})
    assert (error.code, error.retryable) == ("connection", True)


async def test_silent_server_times_out() -> None:
    server = LocalSmtpServer(SmtpBehaviour(silent=True))
    await server.start()
    try:
        provider = EmailProvider(
            "mail", SmtpServer("127.0.0.1", server.port, "none", timeout_seconds=0.2), SENDER
        )
        error = await failure(provider, {"to": "a@example.com"})
    finally:
        await server.stop()
    assert (error.code, error.retryable) == ("timeout", True)


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = EmailProvider("mail", SmtpServer("127.0.0.1", port, "none", password="pw-SECRET"), SENDER)
    error = await failure(provider, {"to": "a@example.com"})
    assert (error.code, error.message, error.retryable) == (
        "connection",
        "connection error: connection refused",
        True,
    )


@pytest.mark.parametrize(
    ("exc", "code", "retryable"),
    [
        (smtplib.SMTPServerDisconnected("gone"), "connection", True),
        (smtplib.SMTPConnectError(421, b"busy"), "connection", True),
        (smtplib.SMTPNotSupportedError("no AUTH"), "execution_failed", False),
        (smtplib.SMTPException("No suitable authentication method found."), "execution_failed", False),
        (socket.gaierror(-2, "Name or service not known"), "connection", True),
        (TimeoutError("timed out"), "timeout", True),
    ],
)
def test_smtp_error_classification(exc: BaseException, code: str, retryable: bool) -> None:
    error = smtp_error(exc)
    assert (error.code, error.retryable) == (code, retryable)


def test_server_repr_hides_the_password() -> None:
    assert "pw-SECRET" not in repr(SmtpServer("smtp.example.com", password="pw-SECRET"))
