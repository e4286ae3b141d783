"""Turn an ``email`` action payload into an RFC 5322 message (features.md §8.3). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from tidegate.model.json import JsonValue
from tidegate.providers.base import ProviderError

__all__ = ["DEFAULT_SUBJECT", "Mail", "build_message", "parse_mail", "sender_domain"]

DEFAULT_SUBJECT = "(no subject)"


@dataclass(frozen=True, slots=True)
class Mail:
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    reply_to: str | None

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every envelope recipient (To, Cc and Bcc), each once, in that order."""
        return tuple(dict.fromkeys((*self.to, *self.cc, *self.bcc)))


def _serialization(message: str) -> ProviderError:
    return ProviderError("serialization", message, retryable=False)


def _string(payload: Mapping[str, JsonValue], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _serialization(f"email payload field '{key}' must be a string")
    return value


def _addresses(payload: Mapping[str, JsonValue], key: str) -> tuple[str, ...] | None:
    value = payload.get(key)
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise _serialization(f"email payload field '{key}' must be a string or a list of strings")
    addresses = tuple(item.strip() for item in items if isinstance(item, str) and item.strip())
    if any(c in address for address in addresses for c in "\r\n\0"):
        raise _serialization(f"email payload field '{key}' holds an invalid address")
    return addresses


def parse_mail(payload: JsonValue, default_to: Sequence[str]) -> Mail:
    """Read the payload members; ``serialization`` for non-string values, ``execution_failed`` (not
    retryable) when there is no recipient at all."""
    if not isinstance(payload, dict):
        raise _serialization("email payload must be an object")
    to = _addresses(payload, "to")
    text = _string(payload, "text")
    mail = Mail(
        to=tuple(default_to) if to is None else to,
        cc=_addresses(payload, "cc") or (),
        bcc=_addresses(payload, "bcc") or (),
        subject=_string(payload, "subject") or DEFAULT_SUBJECT,
        text=text if text is not None else _string(payload, "body"),
        html=_string(payload, "html"),
        reply_to=_string(payload, "reply_to"),
    )
    if not mail.recipients:
        raise ProviderError("execution_failed", "email has no recipient", retryable=False)
    return mail


def sender_domain(sender: str) -> str:
    """The domain of the ``from`` address, used for Message-IDs (no DNS lookup, unlike ``make_msgid()``)."""
    _, address = parseaddr(sender)
    _, at, domain = address.rpartition("@")
    return domain if at and domain else "tidegate.invalid"


def build_message(mail: Mail, sender: str, message_id: str) -> EmailMessage:
    """The message: plain text, HTML, or multipart/alternative with both; Bcc is never a header.

    A header value with a line break raises ``serialization`` (no header injection)."""
    message = EmailMessage()
    try:
        message["From"] = sender
        if mail.to:
            message["To"] = ", ".join(mail.to)
        if mail.cc:
            message["Cc"] = ", ".join(mail.cc)
        if mail.reply_to:
            message["Reply-To"] = mail.reply_to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id
    except ValueError:
        raise _serialization("email payload holds an invalid header value") from None
    if mail.html is not None and mail.text is not None:
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
    elif mail.html is not None:
        message.set_content(mail.html, subtype="html")
    else:
        message.set_content(mail.text or "")
    return message
